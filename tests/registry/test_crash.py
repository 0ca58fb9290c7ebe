"""kill -9 at every write point of a registration and of an alias swap: afterwards no partial
version is visible, everything visible verifies, and the next write succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from registry import KeyRing, ModelRegistry

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
CHILD = """
import sys
from pathlib import Path
from registry import KeyRing, ModelRegistry
home, action = Path(sys.argv[1]), sys.argv[2]
ring = KeyRing(home / "keys")
registry = ModelRegistry(home / "registry", ring.trust, signer=lambda: ring.load(sys.argv[3].encode()))
if action == "register":
    registry.register("churn", files={"model.txt": b"m" * 5000, "sub/ref.csv": b"a\\n"},
                      metadata={"run": "crash"}, status="accepted", key=ring.load(sys.argv[3].encode()),
                      derived=lambda record, key_id: {"model_card.md": b"# card\\n"})
else:
    registry.promote("churn", 2, actor="ci", reason="crash test")
"""


def run_child(home: Path, action: str, fault: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, str(home), action, PASSPHRASE],
                          env=env, cwd=ROOT, timeout=120).returncode


@pytest.fixture
def home(tmp_path: Path) -> Path:
    ring = KeyRing(tmp_path / "keys")
    key = ring.init(PASSPHRASE.encode())
    registry = ModelRegistry(tmp_path / "registry", ring.trust)
    registry.register("churn", files={"model.txt": b"v1"}, metadata={}, status="accepted", key=key)
    return tmp_path


@pytest.mark.parametrize("fault", ["register.staged", "register.derived", "register.metadata",
                                   "register.signed", "register.renamed"])
def test_kill_during_register(home: Path, fault: str) -> None:
    assert run_child(home, "register", fault) == -signal.SIGKILL
    ring = KeyRing(home / "keys")
    registry = ModelRegistry(home / "registry", ring.trust)
    visible = [v.version for v in registry.versions("churn")]
    # Before the rename nothing new is visible; after it the version is whole and signed.
    assert visible == ([1, 2] if fault == "register.renamed" else [1])
    if fault == "register.renamed":  # the derived file (the model card) came whole and signed
        assert "model_card.md" in registry.verify("churn", 2).resources
    assert all(not isinstance(result, Exception) for _, result in registry.verify_all())
    again = registry.register("churn", files={"model.txt": b"next"}, metadata={}, status="accepted",
                              key=ring.load(PASSPHRASE.encode()))
    assert again.version == visible[-1] + 1
    assert not list((home / "registry" / "churn").glob(".staging-*"))  # the dead one is swept


@pytest.mark.parametrize("fault", ["alias.locked", "alias.staged", "alias.replaced"])
def test_kill_during_alias_swap(home: Path, fault: str) -> None:
    ring = KeyRing(home / "keys")
    registry = ModelRegistry(home / "registry", ring.trust, signer=lambda: ring.load(PASSPHRASE.encode()))
    registry.register("churn", files={"model.txt": b"v2"}, metadata={}, status="accepted",
                      key=ring.load(PASSPHRASE.encode()))
    registry.promote("churn", 1, actor="ci", reason="before")
    assert run_child(home, "promote", fault) == -signal.SIGKILL
    expected = 2 if fault == "alias.replaced" else 1
    assert registry.alias("churn", "champion") == expected
    assert len(registry.alias_history("churn")) == expected
    registry.promote("churn", 2, actor="ci", reason="after")
    assert registry.alias("churn", "champion") == 2


KEYS_CHILD = """
import sys
from pathlib import Path
from registry import KeyRing
ring = KeyRing(Path(sys.argv[1]) / "keys")
getattr(ring, sys.argv[2])(sys.argv[3].encode())
"""


def run_keys_child(home: Path, action: str, fault: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", KEYS_CHILD, str(home), action, PASSPHRASE],
                          env=env, cwd=ROOT, timeout=120).returncode


@pytest.mark.parametrize("fault", ["trust.signed", "trust.appended", "keys.trusted"])
def test_kill_during_rotation_leaves_a_valid_ledger(home: Path, fault: str) -> None:
    """Before the rename the ledger is unchanged; after it the new key is trusted but not yet
    active. Either way the old key still signs, and the next rotation succeeds."""
    ring = KeyRing(home / "keys")
    before = ring.active_key_id()
    assert run_keys_child(home, "rotate", fault) == -signal.SIGKILL
    ring = KeyRing(home / "keys")
    assert ring.active_key_id() == before and ring.load(PASSPHRASE.encode()).key_id == before
    assert len(ring.trust.key_ids()) == (1 if fault == "trust.signed" else 2)
    registry = ModelRegistry(home / "registry", ring.trust)
    assert all(not isinstance(result, Exception) for _, result in registry.verify_all())
    new = ring.rotate(PASSPHRASE.encode())
    assert ring.active_key_id() == new.key_id and not ring.trust.is_revoked(before)


@pytest.mark.parametrize("fault", ["trust.signed", "trust.appended", "keys.trusted"])
def test_kill_during_init_is_finished_by_the_next_init(tmp_path: Path, fault: str) -> None:
    assert run_keys_child(tmp_path, "init", fault) == -signal.SIGKILL
    ring = KeyRing(tmp_path / "keys")
    assert not ring.exists()
    key = ring.init(PASSPHRASE.encode())  # a root written before the crash is made active
    assert ring.trust.key_ids() == [key.key_id] and ring.trust.added_by(key.key_id) == "root"
    assert ring.load(PASSPHRASE.encode()).key_id == key.key_id
