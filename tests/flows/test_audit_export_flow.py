"""The audit-export flow takes what `audit export` takes (model, formats, pii, a folder or .zip out)
and passes it on: one run under the session's Prefect harness writes the zip the CLI would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftline.errors import DriftlineError
from features.contract_toml import contract_toml
from features.contracts import ColumnSpec, FeatureGroupContract
from governance.export import verify_bundle
from governance.export_zip import read_zip
from tasks.workspace import Workspace
from tests.usecases.candidates import PASSPHRASE

PEOPLE = FeatureGroupContract("people", 1, ("person_id",), "at", (
    ColumnSpec("person_id", "string", nullable=False, pii=True), ColumnSpec("at", "timestamp", nullable=False),
    ColumnSpec("email", "string", pii="drop")))


def test_the_flow_passes_formats_pii_model_and_a_zip_target(prefect_harness, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.audit_export import audit_export_flow

    home = tmp_path / "home"
    for name, value in (("HOME", str(home)), ("KEY_PASSPHRASE", PASSPHRASE), ("REPORT_PDF", "false")):
        monkeypatch.setenv(f"DRIFTLINE_{name}", value)
    (home / "contracts").mkdir(parents=True)
    (home / "contracts" / "people.toml").write_text(contract_toml(PEOPLE), encoding="utf-8")
    ws = Workspace.open(str(home))
    ws.audit.append("support.note", "ticket:9", {"person_id": "P-991", "email": "p991@example.org"}, actor=ws.actor())

    out = tmp_path / "bundle.zip"
    assert audit_export_flow(home=str(home), formats=["csv", "parquet", "csv"], pii="hash", out=str(out)) == str(out)
    files = read_zip(out)
    assert verify_bundle(out, ws.trust.public_pems()).ok
    assert {"entries.csv", "entries.parquet"} <= set(files) and "entries.jsonl" not in files
    manifest = json.loads(files["manifest.json"])
    fields = manifest["pii_policy"]["fields"]
    assert fields["person_id"] == "hash" and fields["email"] == "drop"  # pii = true took --pii; drop was kept
    assert not any(b"P-991" in data or b"p991@example.org" in data for data in files.values())
    entry = [json.loads(line) for line in ws.audit.log_path.read_bytes().splitlines()][-1]
    assert entry["action"] == "audit.export" and entry["details"]["formats"] == ["csv", "parquet"]
    assert entry["details"]["pii_policy"] == "hash" and entry["actor"].get("flow_run_id")

    with pytest.raises(DriftlineError, match="nosuch"):  # the model reaches the use case, which refuses it
        audit_export_flow(home=str(home), model="nosuch", out=str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()
