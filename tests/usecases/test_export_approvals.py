"""Approval records in a compliance bundle: shipped beside their versions, verified offline with the
bundle's keys (a flipped byte, a record moved to another version, one bound to another build, one
signed by a key the auditor does not trust: each fails, naming the file), shown in the per-model
report from the record; a damaged record in the data home refuses the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import IntegrityError
from governance.export import verify_bundle
from registry.approvals import Approval
from registry.keys import SigningKey
from tasks.workspace import Workspace
from tests.usecases.test_approval import add, record_path
from usecases.approval import decide
from usecases.export import export_audit
from usecases.promotion import promote_version


@pytest.fixture
def ws(home: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """v1 needs no approval (champion); v2 approved by ana, v3 rejected by bo, v4 pending."""
    monkeypatch.setenv("DRIFTLINE_ACTOR", "ana")
    ws = Workspace.open()
    add(ws, "1", spec=None)
    promote_version(ws, "churn", 1, reason="first")
    for seed in "234":
        add(ws, seed)
    decide(ws, "churn", 2, approve=True, reason="looks right")
    decide(ws, "churn", 3, approve=False, reason="bias on region", approver="bo")
    return ws


def _resign(ws: Workspace, bundle: Path, changed: dict[str, bytes]) -> None:
    """What an exporter holding the key could do: change files and sign a manifest over them."""
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    for name, data in changed.items():
        (bundle / name).write_bytes(data)
        manifest["files"][name] = sha256_hex(data)
    raw = canonical_json(manifest)
    (bundle / "manifest.json").write_bytes(raw)
    (bundle / "manifest.sig").write_bytes(ws.signing_key().sign(raw))


def test_records_ship_verify_and_the_report_shows_each_state(ws: Workspace) -> None:
    bundle = export_audit(ws).path
    result = verify_bundle(bundle, ws.trust.public_pems())
    assert result.ok, result.problems
    assert result.approvals == 2 and result.versions == 4
    for version in (2, 3):
        shipped = bundle / f"registry/churn/approvals/{version}.json"
        assert shipped.read_bytes() == record_path(ws, version).read_bytes()
    page = (bundle / "model_report.html").read_text()
    assert "approved by ana at " in page and ": looks right" in page
    assert "rejected by bo at " in page and ": bias on region" in page
    assert page.count("pending (approvers: ana, bo)") == 1 and "not required" in page


def test_a_flipped_byte_in_a_shipped_record_fails_naming_it(ws: Workspace) -> None:
    bundle = export_audit(ws).path
    path = bundle / "registry/churn/approvals/2.json"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    result = verify_bundle(bundle, ws.trust.public_pems())
    assert not result.ok and any("registry/churn/approvals/2.json" in p for p in result.problems)


def test_a_record_changed_under_a_resigned_manifest_fails_naming_it(ws: Workspace) -> None:
    """The manifest's signature is not enough: the record's own signature is checked."""
    bundle = export_audit(ws).path
    name = "registry/churn/approvals/3.json"
    raw = (bundle / name).read_bytes().replace(b'"rejected"', b'"approved"')
    _resign(ws, bundle, {name: raw})
    result = verify_bundle(bundle, ws.trust.public_pems())
    assert not result.ok and result.problems[0].startswith(name), result.problems


def test_a_record_moved_to_another_version_fails(ws: Workspace) -> None:
    bundle = export_audit(ws).path
    _resign(ws, bundle, {"registry/churn/approvals/4.json": (bundle / "registry/churn/approvals/2.json").read_bytes()})
    result = verify_bundle(bundle, ws.trust.public_pems())
    assert result.problems == ("registry/churn/approvals/4.json decides churn v2, not the version at its path",)


def test_a_record_bound_to_another_build_fails(ws: Workspace) -> None:
    bundle = export_audit(ws).path
    forged = Approval("churn", 4, "0" * 64, "approved", "ana", "forged", "2026-01-01T00:00:00Z")
    _resign(ws, bundle, {"registry/churn/approvals/4.json": forged.to_bytes(ws.signing_key())})
    result = verify_bundle(bundle, ws.trust.public_pems())
    assert not result.ok and "registry/churn/approvals/4.json decides another build" in result.problems[0]


def test_a_record_signed_by_an_untrusted_key_fails(ws: Workspace) -> None:
    bundle = export_audit(ws).path
    stranger = SigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1()))
    state = ws.registry.approval_state("churn", 4)
    forged = Approval("churn", 4, state.manifest_sha256, "approved", "ana", "forged", "2026-01-01T00:00:00Z")
    _resign(ws, bundle, {"registry/churn/approvals/4.json": forged.to_bytes(stranger)})
    result = verify_bundle(bundle, ws.trust.public_pems())
    assert not result.ok and result.problems[0].startswith("registry/churn/approvals/4.json"), result.problems


def test_a_damaged_record_in_the_data_home_refuses_the_export(ws: Workspace) -> None:
    path = record_path(ws, 2)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="approvals/2.json"):
        export_audit(ws)
