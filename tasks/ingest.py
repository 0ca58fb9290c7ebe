"""Ingestion task: the ``ingest`` use case (:func:`usecases.ingest.ingest_landing`) with a retry.

The use case ingests the drops, audits every file, compacts fragmented groups and expires handled
drops; this task adds what Prefect gives: a retry on I/O errors (ingestion is idempotent, a drop is
known by the sha256 of its bytes, so nothing is stored twice), the run log, the table artifact and
the flow run in the audit actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from features.drop_guard import ReadLimits
from tasks.progress import terminal_bar
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace
from usecases.ingest import IngestRun, ingest_landing
from usecases.ingest import landing_files as landing_files_in


def landing_files(ws: Workspace, paths: Sequence[str] | None = None) -> list[Path]:
    """The named drops (a folder: its data files), or every drop waiting under ``landing/<group>/``."""
    return landing_files_in(ws.home.landing, paths)


@task(name="ingest-drops", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def ingest_drops(ws: Workspace, paths: Sequence[Path], group: str | None = None) -> IngestRun:
    # A bar when a person runs the command at a terminal (tasks.progress): many drops take minutes.
    with terminal_bar("ingest") as progress:
        run = ingest_landing(paths, ws.contracts, ws.store, ws.quarantine, landing=ws.home.landing,
                             state=ws.home.state, audit=ws.audit, actor=ws.actor(flow_run_id()),
                             read_limits=ReadLimits(**ws.settings.ingest.model_dump()),
                             compact_min_files=ws.settings.compact_min_files,
                             retention_days=ws.settings.landing_retention_days, group=group, progress=progress)
    log = run_logger()
    for r in run.reports:
        if r.rows_quarantined or r.status == "rejected":
            log.warning("%s: %d row(s) quarantined (%s)", Path(r.file).name, r.rows_quarantined,
                        r.error or ", ".join(sorted(r.reasons)))
    for c in run.compactions:
        log.info("compacted %s: %d file(s) into %d (v%d)", c.group, c.files_removed, c.files_added, c.version_after)
    if run.expired:
        log.info("removed %d ingested drop(s) older than %g days from landing/", len(run.expired),
                 ws.settings.landing_retention_days)
    if run.reports:
        create_table_artifact(key="ingestion", description="Drops ingested in this run", table=[
            {"file": Path(r.file).name, "group": r.group, "status": r.status, "rows in": r.rows_in,
             "stored": r.rows_stored, "quarantined": r.rows_quarantined} for r in run.reports])
    return run
