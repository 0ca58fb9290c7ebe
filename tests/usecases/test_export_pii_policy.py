"""The export use case reads each column's PII policy from the data home's contracts: declared
policies are kept, `--pii` fills in `pii = true` and only tightens; the CLI names each column's
action; a contract with an unknown policy is a user error (exit 2), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from features.contract_toml import contract_toml
from features.contracts import ColumnSpec, FeatureGroupContract
from governance.export import verify_bundle
from tasks.workspace import Workspace
from usecases.export import export_audit

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = FeatureGroupContract("people", 1, ("person_id",), "at", (
    ColumnSpec("person_id", "string", nullable=False, pii="hash"), ColumnSpec("at", "timestamp", nullable=False),
    ColumnSpec("email", "string", pii="drop"), ColumnSpec("phone", "string", pii=True)))


def _with_people(home: Path) -> Workspace:
    (home / "contracts").mkdir(parents=True, exist_ok=True)
    (home / "contracts" / "people.toml").write_text(contract_toml(PEOPLE), encoding="utf-8")
    return Workspace.open()


def test_declared_policies_reach_the_manifest_and_the_audit_entry(ws: Workspace, home: Path, tmp_path: Path) -> None:
    ws = _with_people(home)
    ws.audit.append("support.note", "ticket:1", {"person_id": "P-77", "email": "p77@example.org",
                                                 "phone": "+44 20 7946 0001"}, actor=ws.actor())
    done = export_audit(ws, out=tmp_path / "b.zip", pii_policy="hash")
    actions = dict(done.pii_actions)
    assert actions == {"customer_id": "hash", "email": "drop", "person_id": "hash", "phone": "hash"}
    assert verify_bundle(done.path, ws.trust.public_pems()).ok
    assert "turned off" in done.report_note  # the fixture's DRIFTLINE_REPORT_PDF=false, said in the bundle too
    data = done.path.read_bytes()
    assert b"turned off (DRIFTLINE_REPORT_PDF=false)" in data
    assert b"P-77" not in data and b"p77@example.org" not in data and b"7946 0001" not in data
    entry = json.loads(ws.audit.log_path.read_bytes().splitlines()[-1])
    assert entry["action"] == "audit.export" and ["email", "drop"] in entry["details"]["pii_actions"]
    default = export_audit(ws, out=tmp_path / "c")  # no --pii: declared kept, pii = true masked
    assert dict(default.pii_actions) == {"customer_id": "mask", "email": "drop", "person_id": "hash",
                                         "phone": "mask"}


def _flows(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "flows", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_cli_names_each_action_and_refuses_an_unknown_policy(ws: Workspace, home: Path, tmp_path: Path) -> None:
    _with_people(home)
    done = _flows("audit", "export", "--out", str(tmp_path / "b"), "--pii", "drop")
    assert done.returncode == 0, done.stderr
    assert "PII columns: customer_id drop, email drop, person_id drop, phone drop" in done.stdout
    path = home / "contracts" / "people.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('pii = "drop"', 'pii = "encrypt"'), encoding="utf-8")
    bad = _flows("audit", "export", "--out", str(tmp_path / "c"))
    assert bad.returncode == 2 and "encrypt" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert not (tmp_path / "c").exists()
