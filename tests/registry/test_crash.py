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
                      metadata={"run": "crash"}, status="accepted", key=ring.load(sys.argv[3].encode()))
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


@pytest.mark.parametrize("fault", ["register.staged", "register.metadata", "register.signed",
                                   "register.renamed"])
def test_kill_during_register(home: Path, fault: str) -> None:
    assert run_child(home, "register", fault) == -signal.SIGKILL
    ring = KeyRing(home / "keys")
    registry = ModelRegistry(home / "registry", ring.trust)
    visible = [v.version for v in registry.versions("churn")]
    # Before the rename nothing new is visible; after it the version is whole and signed.
    assert visible == ([1, 2] if fault == "register.renamed" else [1])
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
