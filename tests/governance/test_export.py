"""Compliance export: a signed bundle that verifies offline, masks PII and catches tampering."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from driftline.canonical import canonical_json, sha256_hex
from driftline.crypto import IN_TOTO_PAYLOAD_TYPE, Bundle, pae
from driftline.errors import AuditChainError, InputError
from governance.actor import Actor
from governance.audit import AuditLog
from governance.export import export_bundle, verify_bundle
from tests.governance.doubles import EcdsaSigner

ACTOR = Actor(user="ana", host="laptop")


Signer = EcdsaSigner


KEY = Signer()
KEYS = {KEY.key_id: KEY.pem}


def model_sig(signer: Signer, files: dict[str, bytes]) -> bytes:
    """A minimal model-signing v1.0 style bundle: DSSE over an in-toto statement of file digests."""
    statement = canonical_json({"predicate": {"resources": [
        {"name": n, "digest": sha256_hex(d), "algorithm": "sha256"} for n, d in sorted(files.items())]}})
    signature = signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement))
    return Bundle(payload=statement, signature=signature, key_hint=signer.key_id).encode()


@pytest.fixture
def home(tmp_path):
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    moments = iter(start + timedelta(days=i) for i in range(100))
    log = AuditLog(tmp_path / "audit", clock=lambda: next(moments))
    for day in range(6):  # entries on 05-01, 05-02, 05-04 .. 05-07; the checkpoint took 05-03
        log.append("model.scored", "churn/1", {"rows": day, "email": f"user{day}@example.com",
                                               "nested": {"ssn": "123-45-6789"} if day == 2 else {}},
                   actor=ACTOR)
        if day == 1:
            log.checkpoint(KEY)
    gate = canonical_json({"verdict": "promote", "checks": []})
    meta = canonical_json({"model": "churn", "version": 1, "status": "accepted",
                           "created_at": "2024-05-01", "gate_report_sha256": sha256_hex(gate),
                           "data": {"training_set_sha256": "ab" * 32, "delta_versions": {"labels": 3}}})
    folder = tmp_path / "registry" / "churn" / "1"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_bytes(meta)
    (folder / "gate_report.json").write_bytes(gate)
    (folder / "model.txt").write_bytes(b"tree 0")
    (folder / "model.sig").write_bytes(model_sig(KEY, {"metadata.json": meta, "model.txt": b"tree 0",
                                                       "gate_report.json": gate}))
    return tmp_path, log


def export(home, **kw) -> Path:
    root, log = home
    return export_bundle(root / "bundle", audit=log, registry_root=root / "registry",
                         public_keys=KEYS, signer=KEY, **kw)


def test_bundle_verifies_offline_and_masks_pii(home):
    bundle = export(home, since="2024-05-02", until="2024-05-05", pii_fields=("email", "ssn"))
    result = verify_bundle(bundle, KEYS)
    assert result.ok, result.problems
    # entries 2..3 are in range; 4..6 link them to the checkpoint signed at export time
    assert result.entries == 5 and result.entries_masked == 5 and result.versions == 1
    everything = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    assert b"example.com" not in everything and b"123-45-6789" not in everything
    assert b"[masked]" in everything
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert manifest["in_range"] == [2, 3] and "registry/churn/1/gate_report.json" in manifest["files"]
    # every file model.sig signs ships, so the independent model_signing verifier accepts the folder
    assert "registry/churn/1/model.txt" in manifest["files"]
    assert manifest["pii_policy"] == {"fields": {"email": "mask", "ssn": "mask"}}
    page = (bundle / "report.html").read_text()
    assert "model.scored" in page and "context" in page and "promote" in page


def test_unmasked_entries_are_rehashed_and_covered_by_an_existing_checkpoint(home):
    bundle = export(home, until="2024-05-02")  # only entry 1; checkpoint at size 2 covers it
    result = verify_bundle(bundle, KEYS)
    assert result.ok, result.problems
    assert (result.entries, result.entries_hashed, result.entries_masked) == (2, 2, 0)
    assert result.checkpoints == 1


def test_tampering_is_caught(home):
    bundle = export(home, pii_fields=("email",))
    entries = bundle / "audit" / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b'"rows":3', b'"rows":4'))
    result = verify_bundle(bundle, KEYS)
    assert not result.ok and any("entries.jsonl does not match" in p for p in result.problems)


def test_extra_files_and_untrusted_signers_are_caught(home):
    bundle = export(home)
    (bundle / "keys" / "attacker.pub").write_bytes(b"x")
    assert any("not in the signed manifest" in p for p in verify_bundle(bundle, KEYS).problems)
    (bundle / "keys" / "attacker.pub").unlink()
    stranger = Signer()
    result = verify_bundle(bundle, {stranger.key_id: stranger.pem})
    assert not result.ok and "manifest signature" in result.problems[0]


def test_a_bundle_re_signed_by_the_exporter_still_catches_a_forged_metadata(home):
    root, _ = home
    meta = root / "registry" / "churn" / "1" / "metadata.json"
    meta.write_bytes(meta.read_bytes().replace(b"accepted", b"rejected"))
    result = verify_bundle(export(home), KEYS)
    assert not result.ok and any("not the file model.sig signed" in p for p in result.problems)


def test_export_refuses_a_broken_log_and_an_existing_target(home):
    root, log = home
    (root / "bundle").mkdir()
    with pytest.raises(InputError):
        export(home)
    (root / "bundle").rmdir()
    lines = log.log_path.read_bytes().splitlines(keepends=True)
    log.log_path.write_bytes(b"".join(lines[:1] + lines[2:]))
    with pytest.raises(AuditChainError):
        export(home)


def _extra_field(doc):
    doc["extra"] = 1


def _extra_signature_field(doc):
    doc["dsseEnvelope"]["signatures"][0]["note"] = "unsigned"


def _second_signature(doc):
    doc["dsseEnvelope"]["signatures"].append({"sig": "AAAA"})


def _no_media_type(doc):
    del doc["mediaType"]


def _tlog_entry(doc):
    doc["verificationMaterial"]["tlogEntries"] = [{"logIndex": 1}]


def _other_keyid(doc):
    doc["dsseEnvelope"]["signatures"][0]["keyid"] = "f" * 64


# Each of these leaves the signed payload and its signature intact; the lenient JSON walk the
# export check once used accepted them all, while the registry refused them: a second verifier of
# one format must refuse what the first refuses.
@pytest.mark.parametrize("change", [_extra_field, _extra_signature_field, _second_signature, _no_media_type,
                                    _tlog_entry, _other_keyid, "indented", "duplicate key"])
def test_the_export_check_refuses_a_model_sig_the_registry_refuses(home, change):
    root, _ = home
    sig = root / "registry" / "churn" / "1" / "model.sig"
    raw = sig.read_bytes()
    if change == "indented":
        changed = json.dumps(json.loads(raw), indent=1).encode()
    elif change == "duplicate key":
        changed = raw.replace(b'{"dsseEnvelope"', b'{"mediaType":"other","dsseEnvelope"', 1)
    else:
        doc = json.loads(raw)
        change(doc)
        changed = canonical_json(doc)
    assert changed != raw
    sig.write_bytes(changed)
    result = verify_bundle(export(home), KEYS)
    assert not result.ok and any("churn/1/model.sig" in p for p in result.problems), result.problems


def test_export_takes_the_gate_report_by_the_layout_never_by_guessing(home):
    # A model's own file whose name mentions a gate, sorting after gate_report.json: the export
    # neither ships it nor reports it as the version's gate decision.
    root, _ = home
    (root / "registry" / "churn" / "1" / "old_gate_notes.json").write_bytes(b'{"verdict": "reject"}')
    bundle = export(home)
    assert verify_bundle(bundle, KEYS).ok
    shipped = sorted(p.name for p in (bundle / "registry" / "churn" / "1").iterdir())
    assert shipped == ["gate_report.json", "metadata.json", "model.sig", "model.txt"]  # what model.sig signs
    report = (bundle / "report.html").read_text()
    assert "promote" in report and "reject" not in report
