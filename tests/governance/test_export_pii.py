"""PII policy per column: resolved from the contracts' declarations, applied to every file of an export
(folder and zip, every format), recorded per column in the signed manifest, and checked by the
verifier, which fails a bundle whose entries or model files carry a PII column in clear."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import governance.export as export_module
from driftline.canonical import canonical_json, sha256_hex
from driftline.crypto import derive_secret
from driftline.errors import InputError, KeyMaterialError
from governance.checkpoints import derive_entry_mac_key, entry_mac_key_of
from governance.export import export_bundle, verify_bundle
from governance.export_pii import HASH_KEY_INFO, HASH_KEY_SALT, PiiPolicy, resolve_actions
from governance.export_zip import read_zip
from registry.keys import SigningKey
from tests.governance.test_export import ACTOR, KEY, KEYS, home, model_sig  # noqa: F401  (fixture)

EMAILS = ("ana.lopez@example.org", "bob+tag@mail.example.net")
PHONES = ("+44 20 7946 0958", "+1 (555) 010-9999")
NAMES = ("Ana Lopez", "Robert O'Neil")
IDS = ("C482913", "C100777")
CORPUS = (*EMAILS, *PHONES, *NAMES, *IDS)
DECLARED = (("email", "hash"), ("phone", "drop"), ("full_name", "mask"), ("customer_id", None))


def _corpus_entries(log) -> None:
    log.append("support.note", "ticket:7", {"email": EMAILS[0], "contact": {"phone": PHONES[0],
                                            "people": [{"full_name": NAMES[0], "customer_id": IDS[0]}]}},
               actor=ACTOR)
    log.append("quarantine", "group:people", {"rows": 2, "reasons": {"email: pattern": 1},
                                              "sample": [{"email": EMAILS[1], "phone": PHONES[1]}]}, actor=ACTOR)
    # a reader's error quotes the line it choked on, under a name no policy names
    log.append("quarantine", "group:people", {"rows": 0, "reasons": {"file rejected": 1},
                                              "error": f"people.csv: malformed CSV: line 3: {NAMES[1]},{IDS[1]}"},
               actor=ACTOR)
    log.append("drift.verdict", "model:churn:v2", {"drifted": True, "categories": {
        "full_name": {NAMES[0]: 3, NAMES[1]: 1}, "customer_id": {IDS[1]: 2}}}, actor=ACTOR)


def _version_fit_on_pii(root: Path) -> None:
    """churn v2 was fit on full_name: its schema and reference profile hold the names."""
    folder = root / "registry" / "churn" / "2"
    folder.mkdir(parents=True)
    files = {"metadata.json": canonical_json({"model": "churn", "version": 2, "status": "accepted"}),
             "model_schema.json": canonical_json({"features": ["full_name", "n"],
                                                  "categories": {"full_name": list(NAMES)}}),
             "reference_profile.json": canonical_json({"features": {"full_name": {"counts": {NAMES[0]: 5}}}}),
             "model.txt": b"tree 0 full_name"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "model.sig").write_bytes(model_sig(KEY, files))


def _policy() -> PiiPolicy:
    return PiiPolicy.of(resolve_actions(DECLARED), b"\x07" * 32)


def _export(home, out: str, **kw):  # noqa: F811
    root, log = home
    return export_bundle(root / out, audit=log, registry_root=root / "registry", public_keys=KEYS, signer=KEY,
                         **kw)


def _files(bundle: Path) -> dict[str, bytes]:
    if bundle.suffix == ".zip":
        return read_zip(bundle)
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}


@pytest.mark.parametrize("out", ["bundle", "bundle.zip"])
def test_the_pii_corpus_never_leaves_in_clear_in_any_file_of_any_format(home, out):  # noqa: F811
    _corpus_entries(home[1])
    _version_fit_on_pii(home[0])
    bundle = _export(home, out, pii=_policy(), formats=("jsonl", "csv", "parquet"))
    result = verify_bundle(bundle, KEYS)
    assert result.ok, result.problems
    files = _files(bundle)
    for name, data in files.items():
        text = data + ("\n".join(map(str, pq.read_table(io.BytesIO(data)).to_pylist())).encode()
                       if name.endswith(".parquet") else b"")
        for value in CORPUS:
            for form in {value, value.replace("'", "&#x27;"), json.dumps(value)[1:-1]}:
                assert form.encode() not in text, (name, value)
    manifest = json.loads(files["manifest.json"])
    assert manifest["pii_policy"]["fields"] == {"customer_id": "mask", "email": "hash", "full_name": "mask",
                                                "phone": "drop"}
    assert manifest["pii_policy"]["quoted"] == {"quarantine": ["error"]}
    assert manifest["registry_withheld"] == {"churn/2": ["full_name"]}
    assert "registry/churn/2/model.sig" in files and "registry/churn/2/model_schema.json" not in files
    assert "registry/churn/1/model.txt" in files  # a version fit on no PII column ships whole


def test_resolution_keeps_declared_policies_and_lets_pii_only_tighten():
    assert resolve_actions(DECLARED) == {"customer_id": "mask", "email": "hash", "full_name": "mask",
                                         "phone": "drop"}
    assert resolve_actions(DECLARED, "hash") == {"customer_id": "hash", "email": "hash", "full_name": "mask",
                                                 "phone": "drop"}  # never loosens mask or drop
    assert set(resolve_actions(DECLARED, "drop").values()) == {"drop"}
    # one name tagged by two contracts: the stricter policy wins
    assert resolve_actions([("email", "hash"), ("email", "drop"), ("email", None)]) == {"email": "drop"}
    for bad in ("clear", "none", ""):
        with pytest.raises(InputError, match="PII policy") as caught:
            resolve_actions([("email", None)], bad)
        assert caught.value.hint
    with pytest.raises(InputError, match="needs a key"):
        PiiPolicy.of({"email": "hash"})


@pytest.mark.parametrize("fmt", [None, "jsonl", "csv", "parquet"])
def test_a_bundle_whose_entries_carry_a_pii_column_in_clear_fails(home, monkeypatch, fmt):  # noqa: F811
    _corpus_entries(home[1])
    # An exporter that records its policy but forgets to apply it (to the audit file, or to one table).
    real = PiiPolicy.apply
    if fmt is None:
        monkeypatch.setattr(PiiPolicy, "apply", lambda self, value, action=None: (value, False))
    else:
        render = export_module.render_entries
        monkeypatch.setattr(export_module, "render_entries", lambda entries, f: render(_clear(home[1], entries), f))
    bundle = _export(home, "bundle", pii=_policy(), formats=(fmt,) if fmt else ())
    monkeypatch.setattr(PiiPolicy, "apply", real)
    result = verify_bundle(bundle, KEYS)
    where = "audit entry" if fmt is None else f"entries.{fmt} row"
    assert not result.ok and any(where in p and "PII field" in p for p in result.problems), result.problems
    assert not any(v in p for p in result.problems for v in CORPUS)  # findings never quote the value
    assert any("'error' may quote a drop's content" in p for p in result.problems)


def _clear(log, shipped):
    """The shipped entries as they are in the log: untreated."""
    by_seq = {e.seq: e for e in log.entries()}
    return [by_seq[e.seq] for e in shipped]


def test_a_bundle_shipping_model_files_fit_on_a_pii_column_fails(home, monkeypatch):  # noqa: F811
    _version_fit_on_pii(home[0])
    monkeypatch.setattr(export_module, "personal_features", lambda folder, names: ())
    bundle = _export(home, "bundle", pii=_policy())
    result = verify_bundle(bundle, KEYS)
    assert not result.ok and any("registry/churn/2 ships model files fit on PII column(s) full_name" in p
                                 for p in result.problems), result.problems


def test_a_flipped_byte_in_the_recorded_withholding_fails(home):  # noqa: F811
    _version_fit_on_pii(home[0])
    bundle = _export(home, "bundle", pii=_policy())
    path = bundle / "manifest.json"
    data = path.read_bytes()
    at = data.index(b'"registry_withheld"') + 5
    path.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    result = verify_bundle(bundle, KEYS)
    assert not result.ok and "manifest" in result.problems[0]


def test_derive_secret_keeps_the_audit_mac_bytes_and_separates_uses():
    private = ec.derive_private_key(0x5EED_CAFE_F00D, ec.SECP256R1())
    key = SigningKey.from_private_key(private)
    assert entry_mac_key_of(key).secret == derive_entry_mac_key(private, key.key_id).secret
    export_key = key.derive_secret(HASH_KEY_SALT, HASH_KEY_INFO)
    assert export_key == derive_secret(private, HASH_KEY_SALT, HASH_KEY_INFO) and len(export_key) == 32
    assert export_key != entry_mac_key_of(key).secret and export_key != key.derive_secret(HASH_KEY_SALT, b"other")
    with pytest.raises(KeyMaterialError):
        derive_secret(ec.generate_private_key(ec.SECP384R1()), b"s", b"i")  # type: ignore[arg-type]
    assert sha256_hex(export_key) not in repr(key)
