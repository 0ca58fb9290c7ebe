"""`registry resign` as a use case: versions and alias files signed by a revoked key are signed
again with the active key, only while their content still verifies under the revoked key; one
`model.resign` entry, checkpointed; nothing to re-sign writes nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from driftline.canonical import canonical_json
from driftline.errors import InputError, IntegrityError
from tasks.workspace import Workspace
from tests.usecases.test_keys import actions, assert_checkpointed
from usecases.keys import rotate_key
from usecases.resign import resign


def revoke_as_before(ws: Workspace, key_id: str) -> None:
    """A revocation that did not re-sign the alias files first (as releases before this one did)."""
    ws.trust.revoke(key_id, "laptop lost", signer=ws.signing_key())
    ws.audit.append("key.revoke", f"key:{key_id}", {"key_id": key_id, "reason": "laptop lost"}, actor=ws.actor())
    ws.audit.checkpoint(ws.signing_key())


def test_resign_all_re_signs_alias_files_of_a_revoked_key_then_versions(ws: Workspace) -> None:
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_as_before(ws, old)
    with pytest.raises(IntegrityError, match="revoked"):
        ws.registry.aliases("churn")
    done = resign(Workspace.open(), every=True)
    assert done.aliases == ("churn",) and done.versions == ("churn v1", "churn v2")
    assert actions(ws)[-1] == "model.resign" and actions(ws).count("model.resign") == 1
    assert_checkpointed(ws)
    assert dict(ws.registry.aliases("churn")) == {"champion": 1}
    assert not resign(ws, every=True).changed and actions(ws).count("model.resign") == 1  # nothing left


def test_one_version_by_number_or_alias(ws: Workspace) -> None:
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_as_before(ws, old)
    assert resign(ws, model="churn", version="champion").versions == ("churn v1",)
    with pytest.raises(IntegrityError, match="revoked"):
        ws.registry.verify("churn", 2)
    assert resign(ws, model="churn", version=2).versions == ("churn v2",)


def test_an_alias_file_edited_after_signing_is_not_re_signed(ws: Workspace) -> None:
    """Tamper: the revoked key's alias file with one byte of its history changed stays refused."""
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_as_before(ws, old)
    path = ws.home.registry / "churn" / "aliases.json"
    doc = json.loads(path.read_bytes())
    doc["history"][0]["reason"] = "firsT"  # one byte
    path.write_bytes(canonical_json(doc) + b"\n")
    tampered, log = path.read_bytes(), ws.audit.log_path.read_bytes()
    with pytest.raises(IntegrityError, match="aliases.json"):
        resign(Workspace.open(), every=True)
    assert path.read_bytes() == tampered and ws.audit.log_path.read_bytes() == log


def test_an_alias_signature_flipped_is_not_re_signed(ws: Workspace) -> None:
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_as_before(ws, old)
    path = ws.home.registry / "churn" / "aliases.json"
    doc = json.loads(path.read_bytes())
    raw = bytearray(base64.b64decode(doc["signature"]["value"]))
    raw[10] ^= 0x01
    doc["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    path.write_bytes(canonical_json(doc) + b"\n")
    with pytest.raises(IntegrityError):
        resign(Workspace.open(), every=True)
    assert json.loads(path.read_bytes())["signature"]["key_id"] == old


def test_resign_needs_a_model_or_all(ws: Workspace) -> None:
    with pytest.raises(InputError, match="--all"):
        resign(ws)


def test_rolled_back_alias_file_is_not_re_signed(ws: Workspace, tmp_path: Path) -> None:
    """An older, validly signed aliases.json put back is refused by the witness, not blessed."""
    path = ws.home.registry / "churn" / "aliases.json"
    older = path.read_bytes()
    from usecases.promotion import promote_version

    promote_version(ws, "churn", 2, reason="second")
    old = ws.signing_key().key_id
    rotate_key(ws)
    revoke_as_before(ws, old)
    path.write_bytes(older)
    with pytest.raises(IntegrityError, match="witness"):
        resign(Workspace.open(), every=True)
    assert path.read_bytes() == older
