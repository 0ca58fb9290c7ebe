"""The ingestion flow: drops in ``landing/`` into the feature store, one Delta commit per group.

Triggered by ``driftline.data.arrived`` (from the landing watcher) or run by hand; emits
``driftline.data.ingested`` per group that received rows.
"""

from __future__ import annotations

from collections import defaultdict

from prefect import flow

from features.ingest import IngestReport
from flows.events import emit, resource
from flows.triggers import DATA_INGESTED
from tasks.audit import checkpoint
from tasks.ingest import ingest_drops, landing_files
from tasks.workspace import Workspace


def emit_ingested(reports: list[IngestReport]) -> None:
    by_group: dict[str, list[IngestReport]] = defaultdict(list)
    for r in reports:
        if r.status == "stored" and r.rows_stored:
            by_group[r.group].append(r)
    for group, rs in sorted(by_group.items()):
        emit(DATA_INGESTED, resource("group", group, version=str(max(r.delta_version or 0 for r in rs))), {
            "group": group, "files": [r.content_sha256 for r in rs],
            "rows_stored": sum(r.rows_stored for r in rs),
            "rows_quarantined": sum(r.rows_quarantined for r in rs),
            "delta_version": max(r.delta_version or 0 for r in rs)})


@flow(name="ingest", log_prints=True)
def ingest_flow(paths: list[str] | None = None, home: str | None = None) -> list[IngestReport]:
    """Ingest the named drops, or every drop waiting under ``landing/<group>/``."""
    ws = Workspace.open(home)
    try:
        reports = ingest_drops(ws, landing_files(ws, paths))
        emit_ingested(reports)
        return reports
    finally:
        checkpoint(ws)
