"""Ingestion tasks: pick the drops waiting in ``landing/``, ingest them, audit every file.

Ingestion is idempotent (a drop is known by the sha256 of its bytes), so the task may retry on
I/O errors without storing anything twice.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from driftline.errors import InputError
from features.drop_guard import ReadLimits
from features.ingest import IngestReport, ingest_files
from features.landing import drops, expire
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace
from usecases.reconcile_lock import writer_lock


def landing_files(ws: Workspace, paths: Sequence[str] | None = None) -> list[Path]:
    """The named drops, or every drop file under ``landing/<group>/`` (sorted, so runs repeat)."""
    if paths:  # absolute, but not resolved: a link is refused by ingestion, never replaced by its target
        resolved = [Path(p).expanduser().absolute() for p in paths]
        missing = [str(p) for p in resolved if not os.path.lexists(p)]
        if missing:
            raise InputError(f"no such file to ingest: {', '.join(missing)}",
                             hint=f"drop files under {ws.home.landing}/<group>/")
        return resolved
    return drops(ws.home.landing)


@task(name="expire-landing", cache_policy=NO_CACHE)
def expire_landing(ws: Workspace) -> int:
    """Remove the drops ingested (or quarantined whole) longer than the retention ago: the store
    and the quarantine hold their rows, and landing/ stays an inbox, not a second copy."""
    keep = timedelta(days=ws.settings.landing_retention_days)
    removed = expire(ws.home.landing, ws.store, ws.quarantine, keep=keep, now=datetime.now(UTC))
    if removed:
        by_group = dict(Counter(path.parent.name for path in removed))
        ws.audit.append("landing.expire", "landing", {"files_by_group": by_group,
                                                      "retention_days": ws.settings.landing_retention_days},
                        actor=ws.actor(flow_run_id()))
        run_logger().info("removed %d ingested drop(s) older than %g days from landing/", len(removed),
                          ws.settings.landing_retention_days)
    return len(removed)


def compact_if_fragmented(ws: Workspace, group: str) -> None:
    """Many small appends leave many small files, which slow every read: compact past a bound.
    Compaction rewrites files, never rows, and keeps the old files for time travel."""
    if len(ws.store.snapshot(group).files) < ws.settings.compact_min_files:
        return
    result = ws.store.compact(group)
    ws.audit.append("store.compact", f"group:{group}", {
        "files_removed": result.files_removed, "files_added": result.files_added,
        "version_before": result.version_before, "version_after": result.version_after}, actor=ws.actor(flow_run_id()))


@task(name="ingest-drops", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def ingest_drops(ws: Workspace, paths: Sequence[Path]) -> list[IngestReport]:
    with writer_lock(ws.home.state):  # the Delta commit and its entries, with no reconcile between
        reports = ingest_files(paths, ws.contracts, ws.store, ws.quarantine, landing_root=ws.home.landing,
                               read_limits=ReadLimits(**ws.settings.ingest.model_dump()))
        actor = ws.actor(flow_run_id())
        log = run_logger()
        for r in reports:
            if r.status == "duplicate":
                continue
            ws.audit.append("ingest", f"group:{r.group}", {
                "file": Path(r.file).name, "sha256": r.content_sha256, "status": r.status,
                "rows_in": r.rows_in, "rows_stored": r.rows_stored, "rows_quarantined": r.rows_quarantined,
                "delta_version": r.delta_version}, actor=actor)
            if r.rows_quarantined or r.status == "rejected":
                ws.audit.append("quarantine", f"group:{r.group}", {
                    "file": Path(r.file).name, "sha256": r.content_sha256, "rows": r.rows_quarantined,
                    "reasons": dict(r.reasons), "error": r.error, "quarantine_path": r.quarantine_path},
                    actor=actor)
                log.warning("%s: %d row(s) quarantined (%s)", Path(r.file).name, r.rows_quarantined,
                            r.error or ", ".join(sorted(r.reasons)))
    for group in sorted({r.group for r in reports if r.status == "stored" and r.rows_stored}):
        compact_if_fragmented(ws, group)
    if reports:
        create_table_artifact(key="ingestion", description="Drops ingested in this run", table=[
            {"file": Path(r.file).name, "group": r.group, "status": r.status, "rows in": r.rows_in,
             "stored": r.rows_stored, "quarantined": r.rows_quarantined} for r in reports])
    return reports
