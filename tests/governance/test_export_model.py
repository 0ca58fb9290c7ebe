"""One model's compliance export: its entries whole, the rest of the chain as links only, still
verified offline to a signed checkpoint; other models' entries and versions never leave."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import InputError
from governance.audit import AuditEntry, AuditLog
from governance.export import export_bundle, verify_bundle
from tests.governance.test_export import ACTOR, KEY, KEYS, model_sig

SUBJECTS = [("model.register", "model:churn:v1"), ("model.register", "model:other:v1"),
            ("ingest", "group:churn_labels"), ("ingest", "group:other_group"), ("model.promote", "model:churn:v1"),
            ("model.train", "study:other-abc"), ("drift.verdict", "model:churn:v1")]


def churn(entry: AuditEntry) -> bool:
    return entry.subject.startswith("model:churn:") or entry.subject == "group:churn_labels"


@pytest.fixture
def home(tmp_path: Path) -> tuple[Path, AuditLog]:
    moments = iter(datetime(2024, 5, 1, tzinfo=timezone.utc) + timedelta(hours=i) for i in range(100))
    log = AuditLog(tmp_path / "audit", clock=lambda: next(moments))
    for action, subject in SUBJECTS:
        log.append(action, subject, {"secret": f"detail of {subject}"}, actor=ACTOR)
    log.checkpoint(KEY)
    for model in ("churn", "other"):
        meta = canonical_json({"model": model, "version": 1})
        folder = tmp_path / "registry" / model / "1"
        folder.mkdir(parents=True)
        (folder / "metadata.json").write_bytes(meta)
        (folder / "model.sig").write_bytes(model_sig(KEY, {"metadata.json": meta}))
    return tmp_path, log


def export(home: tuple[Path, AuditLog]) -> Path:
    root, log = home
    return export_bundle(root / "bundle", audit=log, registry_root=root / "registry", public_keys=KEYS,
                         signer=KEY, model="churn", select=churn)


def resign(bundle: Path, **changes: object) -> None:
    """What only the exporter's key can do: rewrite the manifest over the files as they are now."""
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    manifest.update(changes)
    manifest["files"] = {n: sha256_hex((bundle / n).read_bytes()) for n in manifest["files"]}
    data = canonical_json(manifest)
    (bundle / "manifest.json").write_bytes(data)
    (bundle / "manifest.sig").write_bytes(KEY.sign(data))


def test_a_model_export_verifies_and_ships_only_that_model(home: tuple[Path, AuditLog]) -> None:
    bundle = export(home)
    result = verify_bundle(bundle, KEYS)
    assert result.ok, result.problems
    # The chain runs from churn's first entry (1) to the checkpoint (7): 4 whole, 3 withheld.
    assert (result.entries, result.entries_hashed, result.entries_withheld, result.versions) == (7, 4, 3, 1)
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert manifest["model"] == "churn" and manifest["withheld_seqs"] == [2, 4, 6]
    everything = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    assert b"model:other" not in everything and b"other_group" not in everything and b"study:other" not in everything
    assert not (bundle / "registry" / "other").exists() and (bundle / "registry" / "churn" / "1").is_dir()


def test_a_whole_entry_is_bound_to_the_checkpoint_not_only_to_the_manifest(home: tuple[Path, AuditLog]) -> None:
    bundle = export(home)
    entries = bundle / "audit" / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b"detail of model:churn:v1", b"detail of model:churn:v2", 1))
    assert any("does not match its digest" in p for p in verify_bundle(bundle, KEYS).problems)
    resign(bundle)  # even the exporter cannot change a whole entry: it no longer matches its chained hash
    assert any("entry 1 does not match its hash" in p for p in verify_bundle(bundle, KEYS).problems)


def test_a_flipped_byte_or_a_false_withheld_list_is_caught(home: tuple[Path, AuditLog]) -> None:
    bundle = export(home)
    manifest = bundle / "manifest.json"
    raw = bytearray(manifest.read_bytes())
    raw[raw.index(b"withheld_seqs") + 17] ^= 1
    manifest.write_bytes(bytes(raw))
    assert not verify_bundle(bundle, KEYS).ok
    bundle = export((home[0] / "again", home[1]))
    resign(bundle, withheld_seqs=[2, 4])  # entry 6 is links only: the manifest must say so
    assert any("entry 6 is withheld" in p for p in verify_bundle(bundle, KEYS).problems)


def test_a_model_export_needs_its_filter(home: tuple[Path, AuditLog]) -> None:
    root, log = home
    with pytest.raises(InputError, match="both the model's name and its entry filter"):
        export_bundle(root / "b", audit=log, registry_root=root / "registry", public_keys=KEYS, signer=KEY,
                      model="churn")
