"""The trust ledger against its mark in the witness outside the data home: a ledger rolled back
(a revocation cut off its tail), rewritten, or deleted is refused by every workspace reader, even
though what is left of it still verifies on its own."""

from __future__ import annotations

import shutil

import pytest

from driftline.errors import IntegrityError
from tasks.workspace import Workspace


@pytest.fixture
def home_with_revocation(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", "correct horse")
    ws = Workspace.open(tmp_path / "home")
    old = ws.signing_key()
    new = ws.keyring.rotate(b"correct horse")
    ws.trust.revoke(old.key_id, "laptop lost", signer=new)
    assert ws.trust.is_revoked(old.key_id)
    return tmp_path / "home", old.key_id


def _fresh(home):
    return Workspace.open(home)


def test_a_ledger_cut_back_to_before_a_revocation_is_refused(home_with_revocation):
    home, old_id = home_with_revocation
    ledger = home / "keys" / "trust.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[:-1]))  # the revocation entry gone; the rest still verifies
    with pytest.raises(IntegrityError, match="rolled back"):
        _fresh(home).trust.is_revoked(old_id)


def test_a_ledger_replaced_by_another_root_is_refused(home_with_revocation, tmp_path, monkeypatch):
    home, _ = home_with_revocation
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", "attacker")
    other = Workspace.open(tmp_path / "elsewhere")
    other.signing_key()
    shutil.rmtree(home / "keys")
    shutil.copytree(tmp_path / "elsewhere" / "keys", home / "keys")
    with pytest.raises(IntegrityError):
        _fresh(home).trust.key_ids()


def test_a_deleted_keys_folder_is_refused(home_with_revocation):
    home, _ = home_with_revocation
    shutil.rmtree(home / "keys")
    (home / "keys").mkdir()
    with pytest.raises(IntegrityError, match="rolled back"):
        _fresh(home).trust.key_ids()


def test_the_mark_moves_with_signed_changes(home_with_revocation):
    home, _ = home_with_revocation
    ws = _fresh(home)
    size, head = ws.trust.head()
    assert ws.witness.seen("trust").size == size == 3
    assert ws.witness.seen("trust").head_hash == head


def _promoted_twice(ws):
    key = ws.signing_key()
    reg = ws.registry
    v1 = reg.register("churn", files={"model.txt": b"m1"}, metadata={}, status="accepted", key=key).version
    reg.promote("churn", v1, actor="ana", reason="first")
    old = (reg.root / "churn" / "aliases.json").read_bytes()
    v2 = reg.register("churn", files={"model.txt": b"m2"}, metadata={}, status="accepted", key=key).version
    reg.promote("churn", v2, actor="ana", reason="second")
    assert reg.alias("churn", "champion") == v2
    return old


def test_an_older_signed_alias_file_put_back_is_refused(tmp_path, monkeypatch):
    """The older file is validly signed by a trusted key: only the witness can tell a promotion was
    taken away."""
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", "correct horse")
    ws = Workspace.open(tmp_path / "home")
    old = _promoted_twice(ws)
    (ws.home.registry / "churn" / "aliases.json").write_bytes(old)
    with pytest.raises(IntegrityError, match="alias history"):
        _fresh(tmp_path / "home").registry.load("churn", "champion")


def test_a_deleted_alias_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", "correct horse")
    ws = Workspace.open(tmp_path / "home")
    _promoted_twice(ws)
    (ws.home.registry / "churn" / "aliases.json").unlink()
    with pytest.raises(IntegrityError, match="rolled back"):
        _fresh(tmp_path / "home").registry.alias("churn", "champion")
