"""The ingestion task's upkeep: many small appends get compacted, with the rows unchanged and the
compaction in the audit trail; a table with few files is left alone."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tasks.ingest import compact_if_fragmented
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

    for day in range(1, 6):  # five calls: five commits, five small files
        ingest_files([_drop(ws, day)], ws.contracts, ws.store, ws.quarantine, landing_root=ws.home.landing)
    before = ws.store.read("customer_billing").sort("customer_id")
    assert len(ws.store.snapshot("customer_billing").files) == 5
    compact_if_fragmented(ws, "customer_billing")
    assert len(ws.store.snapshot("customer_billing").files) == 1
    assert ws.store.read("customer_billing").sort("customer_id").equals(before)
    # The first append MACs its entry with the signing key, which local mode creates (key.init) then.
    entries = [e for e in ws.audit.entries() if e.action != "key.init"]
    assert [e.action for e in entries] == ["store.compact"] and entries[0].details["files_removed"] == 5


def test_a_table_with_few_files_is_left_alone(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "home")
    from features.ingest import ingest_files

    ingest_files([_drop(ws, 1)], ws.contracts, ws.store, ws.quarantine, landing_root=ws.home.landing)
    version = ws.store.version("customer_billing")
    compact_if_fragmented(ws, "customer_billing")
    assert ws.store.version("customer_billing") == version and list(ws.audit.entries()) == []
