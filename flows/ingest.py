"""The ingestion flow: drops in ``landing/`` into the feature store, one Delta commit per group.

Triggered by ``driftline.data.arrived`` (from the landing watcher) or run by hand; emits
``driftline.data.ingested`` per group that received rows.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from prefect import flow

from features.drop_guard import drop_digest
from features.ingest import IngestReport
from flows.events import emit, resource
from flows.triggers import DATA_ARRIVED, DATA_INGESTED
from tasks.audit import checkpoint
from tasks.ingest import expire_landing, ingest_drops, landing_files
from tasks.recovery import reconcile_on_start
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


def emit_arrived(paths: list[Path]) -> None:
    """Named files were not seen by a watcher: announce their arrival here (origin "ingest", which
    the ingest trigger ignores, so the announcement cannot start a second ingestion)."""
    for path in paths:
        digest = drop_digest(path)
        if digest is None:  # a link or special file: ingestion refuses it by name, unread
            continue
        emit(DATA_ARRIVED, {**resource("file", digest, group=path.parent.name, origin="ingest"),
                            "prefect.resource.name": path.name},
             {"paths": [str(path)], "group": path.parent.name, "sha256": digest})


@flow(name="ingest", log_prints=True)
def ingest_flow(paths: list[str] | None = None, home: str | None = None,
                overrides: dict[str, Any] | None = None) -> list[IngestReport]:
    """Ingest the named drops, or every drop waiting under ``landing/<group>/``."""
    ws = Workspace.open(home, **(overrides or {}))
    reconcile_on_start(ws)
    try:
        files = landing_files(ws, paths)
        if paths:
            emit_arrived(files)
        reports = ingest_drops(ws, files)
        emit_ingested(reports)
        expire_landing(ws)
        return reports
    finally:
        checkpoint(ws)
