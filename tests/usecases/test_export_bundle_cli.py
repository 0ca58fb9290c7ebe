"""`audit export --out X.zip --format csv --pii hash` end to end on the demo workspace: one archive
that `audit verify-export` accepts as it is with the keys inside, a kill -9 before its rename leaves
nothing at the target, the demo contracts' PII values nowhere in clear, and the independent
`model_signing verify key` accepting every version folder inside the unzipped bundle."""

from __future__ import annotations

import os
import io
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from governance.export import verify_bundle
from governance.export_zip import read_zip
from tasks.workspace import Workspace
from tests.usecases.test_keys import actions
from usecases.export import export_audit

ROOT = Path(__file__).resolve().parents[2]


def flows(*args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DRIFTLINE_FAULT", None)
    if fault:
        env["DRIFTLINE_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "flows", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_zip_export_verifies_with_the_keys_inside_and_names_the_command(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    done = flows("audit", "export", "--out", str(out), "--format", "csv", "--pii", "hash")
    assert done.returncode == 0, done.stderr
    assert f"python -m flows audit verify-export {out}" in done.stdout and "verify_bundle" not in done.stdout
    assert "verify_bundle" not in read_zip(out)["report.html"].decode()
    check = flows("audit", "verify-export", str(out), "--keys-inside")
    assert check.returncode == 0 and "export ok" in check.stdout, check.stderr
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    bad = flows("audit", "verify-export", str(out), "--keys-inside")
    assert bad.returncode == 3 and "does not verify" in bad.stderr and "Traceback" not in bad.stderr


def test_killed_before_the_zip_is_renamed_leaves_nothing_and_the_rerun_writes_it(ws: Workspace,
                                                                                  tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    killed = flows("audit", "export", "--out", str(out), fault="export.staged")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists() and "audit.export" not in actions(ws)
    killed = flows("audit", "export", "--out", str(out), fault="export.renamed")
    assert killed.returncode == -signal.SIGKILL and verify_bundle(out, ws.trust.public_pems()).ok
    rerun = flows("audit", "export", "--out", str(tmp_path / "again.zip"))
    assert rerun.returncode == 0, rerun.stderr
    assert actions(ws).count("audit.export") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("policy", ["drop", "mask", "hash"])
def test_demo_pii_columns_never_leave_in_clear(ws: Workspace, tmp_path: Path, policy: str) -> None:
    pii = sorted({c for contract in ws.contracts.values() for c in contract.pii_columns})
    assert pii == ["customer_id"]
    ws.audit.append("support.note", "ticket:1", {"customer_id": "C987654", "rows": [{"customer_id": "C123987"}]},
                    actor=ws.actor())
    done = export_audit(ws, out=tmp_path / "b.zip", pii_policy=policy, formats=("jsonl", "csv", "parquet"))
    members = read_zip(done.path)
    for name, data in members.items():
        assert b"C987654" not in data and b"C123987" not in data, name
        # no customer id of the demo's form anywhere: text files byte for byte, a Parquet table by its
        # values (its binary pages can hold a 'C' byte before six digits of a hex hash token: it once did)
        text = "\n".join(map(str, pq.read_table(io.BytesIO(data)).to_pylist())).encode() \
            if name.endswith(".parquet") else data
        assert not re.search(rb"(?<![0-9A-Za-z])C\d{6}(?![0-9])", text), name
    assert b'"customer_id":"%s"' % policy.encode() in members["manifest.json"]


def test_model_signing_accepts_every_version_inside_the_unzipped_bundle(ws: Workspace, tmp_path: Path) -> None:
    pytest.importorskip("OpenSSL", reason="model-signing needs pyopenssl")
    pytest.importorskip("model_signing", reason="pip install model-signing")
    done = export_audit(ws, out=tmp_path / "b.zip")
    with zipfile.ZipFile(done.path) as archive:
        archive.extractall(tmp_path / "x")  # the canonical archive verified above holds plain names only
    assert verify_bundle(tmp_path / "x", ws.trust.public_pems()).ok
    versions = sorted(p.parent for p in (tmp_path / "x" / "registry").rglob("model.sig"))
    assert len(versions) == 2
    for folder in versions:
        for _key_id, pem in ws.trust.public_pems().items():
            (tmp_path / "k.pub").write_bytes(pem)
            run = subprocess.run([sys.executable, "-m", "model_signing", "verify", "key", str(folder),
                                  "--signature", str(folder / "model.sig"), "--public_key", str(tmp_path / "k.pub")],
                                 capture_output=True, text=True, timeout=120)
            if run.returncode == 0:
                break
        assert run.returncode == 0 and "Verification succeeded" in run.stdout, (folder, run.stdout, run.stderr)
