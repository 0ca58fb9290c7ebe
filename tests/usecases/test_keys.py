"""The key use cases on a tiny data home: each change is one audit entry, checkpointed at once;
what is already so writes nothing; a revocation re-signs the alias files the key signed first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftline.errors import InputError, IntegrityError, KeyMaterialError, NotFoundError
from registry.keys import KeyRing
from tasks.workspace import Workspace
from usecases.keys import init_key, revoke_key, rotate_key, trust_key, verify_keys
from usecases.resign import resign


def actions(ws: Workspace) -> list[str]:
    return [e.action for e in ws.audit.entries()]


def assert_checkpointed(ws: Workspace) -> None:
    """The last checkpoint covers the last entry, and the whole trail verifies."""
    assert ws.audit.checkpoints()[-1].size == ws.audit.head()[0]
    result = ws.audit.verify(ws.trust)
    assert result.ok and result.unsigned_tail == 0, result.problem


def test_init_audits_key_init_once_and_signs_it(home: Path) -> None:
    ws = Workspace.open()
    event = init_key(ws)
    assert event.changed and actions(ws) == ["key.init"]
    assert_checkpointed(ws)
    again = init_key(Workspace.open())
    assert not again.changed and again.key_id == event.key_id and actions(ws) == ["key.init"]


def test_rotate_audits_once_and_old_versions_still_verify(ws: Workspace) -> None:
    before = len(actions(ws))
    old = ws.signing_key().key_id
    event = rotate_key(ws)
    assert event.key_id != old and ws.keyring.active_key_id() == event.key_id
    assert actions(ws)[before:] == ["key.rotate"]
    assert_checkpointed(ws)
    assert all(not isinstance(r, IntegrityError) for _, r in ws.registry.verify_all())
    assert verify_keys(ws).entries == 2


def test_trust_audits_once_and_trusting_again_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    other = KeyRing(tmp_path / "other-keys").init(b"another machine's passphrase")
    pem = tmp_path / "other.pub"
    pem.write_bytes(other.public_pem)
    before = len(actions(ws))
    assert trust_key(ws, pem).changed
    assert actions(ws)[before:] == ["key.trust"] and other.key_id in ws.trust.key_ids()
    assert_checkpointed(ws)
    assert not trust_key(ws, pem).changed and len(actions(ws)) == before + 1
    verify_keys(ws)


@pytest.mark.parametrize("content, error, needle", [
    (None, NotFoundError, "no public key file"),
    (b"not a key", KeyMaterialError, "not.pub"),
])
def test_trust_refuses_a_missing_or_unreadable_key_file(ws: Workspace, tmp_path: Path, content, error,
                                                       needle) -> None:
    path = tmp_path / "not.pub"
    if content is not None:
        path.write_bytes(content)
    ledger, log = (ws.home.keys / "trust.jsonl").read_bytes(), ws.audit.log_path.read_bytes()
    with pytest.raises(error, match=needle):
        trust_key(ws, path)
    assert (ws.home.keys / "trust.jsonl").read_bytes() == ledger and ws.audit.log_path.read_bytes() == log


def test_revoke_resigns_the_alias_files_the_key_signed_so_aliases_still_read(ws: Workspace) -> None:
    """The merge defect: after `keys revoke OLD`, aliases.json signed by OLD was refused by every
    reader, `registry resign --all` (through reconcile) included."""
    old = ws.signing_key().key_id
    new = rotate_key(ws).key_id
    before = len(actions(ws))
    event = revoke_key(ws, old, "laptop lost")
    assert dict(ws.registry.aliases("churn")) == {"champion": 1}
    assert event.changed and event.aliases_resigned == ("churn",)
    assert actions(ws)[before:] == ["key.revoke"]
    assert_checkpointed(ws)
    assert json.loads((ws.home.registry / "churn" / "aliases.json").read_bytes())["signature"]["key_id"] == new
    assert len(ws.registry.alias_history("churn")) == 1  # the same history, signed again
    with pytest.raises(IntegrityError, match="revoked"):
        ws.registry.verify("churn", 1)
    done = resign(ws, every=True)
    assert done.versions == ("churn v1", "churn v2") and done.aliases == ()
    assert actions(ws)[-3:] == ["key.rotate", "key.revoke", "model.resign"]
    assert_checkpointed(ws)
    assert all(not isinstance(r, IntegrityError) for _, r in ws.registry.verify_all())
    verify_keys(ws)


def test_revoke_refuses_the_active_key_an_unknown_key_and_no_reason(ws: Workspace) -> None:
    before = ws.audit.log_path.read_bytes()
    with pytest.raises(InputError, match="rotate"):
        revoke_key(ws, ws.signing_key().key_id, "oops")
    with pytest.raises(NotFoundError, match="keys list"):
        revoke_key(ws, "ab" * 32, "unknown")
    with pytest.raises(NotFoundError):
        revoke_key(ws, "", "no id")
    old = ws.signing_key().key_id
    rotate_key(ws)
    with pytest.raises(InputError, match="reason"):
        revoke_key(ws, old, "  ")
    assert actions(ws)[-1] == "key.rotate" and ws.audit.log_path.read_bytes().startswith(before)


def test_revoking_twice_writes_once(ws: Workspace) -> None:
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_key(ws, old, "laptop lost")
    size = ws.audit.head()[0]
    assert not revoke_key(ws, old, "again").changed and ws.audit.head()[0] == size


def test_verify_names_a_revocation_cut_from_the_ledger(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_key(ws, old, "laptop lost")
    ledger = ws.home.keys / "trust.jsonl"
    ledger.write_bytes(b"".join(ledger.read_bytes().splitlines(keepends=True)[:-1]))
    with pytest.raises(IntegrityError, match="witness saw 3"):  # the witness outside the home: rolled back
        verify_keys(Workspace.open())
    monkeypatch.setenv("DRIFTLINE_WITNESS_DIR", str(tmp_path / "fresh-witness"))  # the witness lost too
    with pytest.raises(IntegrityError, match="key.revoke"):  # the audit trail still names the cut
        verify_keys(Workspace.open())


@pytest.mark.parametrize("fault", ["alias.staged", "alias.replaced"])
def test_revoke_killed_while_re_signing_an_alias_file_is_finished_by_the_rerun(ws: Workspace, fault: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    old = ws.signing_key().key_id
    rotate_key(ws)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "DRIFTLINE_FAULT": fault}
    argv = [sys.executable, "-m", "flows", "keys", "revoke", old, "--reason", "laptop lost"]
    killed = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    fresh = Workspace.open()
    assert not fresh.trust.is_revoked(old) and dict(fresh.registry.aliases("churn")) == {"champion": 1}
    assert "key.revoke" not in actions(fresh)
    assert revoke_key(fresh, old, "laptop lost").changed
    assert dict(fresh.registry.aliases("churn")) == {"champion": 1} and actions(fresh)[-1] == "key.revoke"
    assert_checkpointed(fresh)
    verify_keys(fresh)
