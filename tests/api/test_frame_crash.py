"""kill -9 between a frame's drop being written and its ingestion (``api.frame.written``): nothing
is stored or recorded, nothing is left in the data home, the audit trail verifies, and ingesting
the frame again stores it once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl

import driftline_api as dl
from driftline_api.frames import FRAME_FAULT
from flows.demo_data import DemoDrop
from tasks.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import sys
    import polars as pl
    import driftline_api as dl

    dl.open(sys.argv[1]).ingest(pl.read_parquet(sys.argv[2]), group="customer_billing", strict=False)
""")


def test_a_kill_after_the_frames_drop_is_written_loses_nothing(tmp_path: Path, demo_source: DemoDrop,
                                                                home: Path) -> None:
    source = next((demo_source.landing / "customer_billing").glob("*.parquet"))
    dl.open(home).ingest(demo_source.landing / "churn_labels", group="churn_labels")  # a home with a trail
    before = Workspace.open(home).store.read("churn_labels").height
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "DRIFTLINE_FAULT": FRAME_FAULT, "TMPDIR": str(scratch),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(home), str(source)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr

    assert [p.name for p in scratch.iterdir()][0].startswith("driftline-frame-")  # left outside the home
    assert not list(home.rglob("*-frame-*"))
    ws = Workspace.open(home)
    assert "customer_billing" not in [p.name for p in (home / "store").iterdir()]
    assert ws.store.read("churn_labels").height == before
    assert ws.audit.verify(ws.trust).ok
    assert not [e for e in ws.audit.entries() if e.details.get("file", "").startswith("customer_billing-frame")]

    frame = pl.read_parquet(source)
    (report,) = dl.open(home).ingest(frame, group="customer_billing", strict=False).reports
    assert report.status == "stored" and report.rows_stored + report.rows_quarantined == frame.height
    assert [r.status for r in dl.open(home).ingest(frame, group="customer_billing", strict=False).reports] == [
        "duplicate"]
