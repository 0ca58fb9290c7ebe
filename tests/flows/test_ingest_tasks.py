"""The ingestion task's wiring of the ``ingest`` use case: the workspace's settings reach it (the
compaction bound), its audit entries carry the actor, and a table with few files is left alone.
The use case's own logic is unit-tested in tests/usecases/test_ingest.py."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tasks.ingest import ingest_drops, landing_files
from tasks.workspace import Workspace


def _drop(ws: Workspace, day: int) -> Path:
    path = ws.home.landing / "customer_billing" / f"day_{day:03d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"customer_id": [f"C{day:06d}"], "event_time": [f"2026-01-{day:02d}T10:00:00Z"],
                  "plan": ["basic"], "monthly_spend": [10.0 + day], "payment_failures": [0],
                  "tenure_days": [day], "region": ["north"]}).write_csv(path)
    return path


def test_many_small_appends_are_compacted_and_audited(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLINE_COMPACT_MIN_FILES", "4")
    ws = Workspace.open(tmp_path / "home")
    from features.ingest import ingest_files

    for day in range(1, 5):  # four calls: four commits, four small files
        ingest_files([_drop(ws, day)], ws.contracts, ws.store, ws.quarantine, landing_root=ws.home.landing)
    before = ws.store.read("customer_billing").height
    run = ingest_drops.fn(ws, landing_files(ws, [str(_drop(ws, 5))]))
    assert [c.files_removed for c in run.compactions] == [5]
    assert len(ws.store.snapshot("customer_billing").files) == 1
    assert ws.store.read("customer_billing").height == before + 1
    # The first append MACs its entry with the signing key, which local mode creates (key.init) then.
    entries = [e for e in ws.audit.entries() if e.action != "key.init"]
    assert [e.action for e in entries] == ["ingest", "store.compact"] and entries[1].details["files_removed"] == 5
    assert entries[0].actor == entries[1].actor and entries[0].actor["user"]


def test_a_table_with_few_files_is_left_alone(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "home")
    run = ingest_drops.fn(ws, landing_files(ws, [str(_drop(ws, 1))]))
    assert run.compactions == () and [r.status for r in run.reports] == ["stored"]
    assert [e.action for e in ws.audit.entries() if e.action != "key.init"] == ["ingest"]
