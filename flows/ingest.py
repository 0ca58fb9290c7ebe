"""The ingestion flow: drops in ``landing/`` into the feature store, one Delta commit per group.

Triggered by ``driftline.data.arrived`` (from the landing watcher) or run by hand (named files and
folders, optionally all of one named ``group``, from anywhere); the work is
the ``ingest`` use case (:mod:`usecases.ingest`) in one task; the flow emits
``driftline.data.ingested`` per group that received rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from driftline.errors import InputError
from features.drop_guard import drop_digest
from features.ingest import IngestReport, named_contract
from flows.events import emit, group_resource, resource
from flows.triggers import DATA_ARRIVED, DATA_INGESTED
from flows.catalog import LocalOnly
from tasks.audit import checkpoint
from tasks.ingest import ingest_drops, landing_files
from tasks.recovery import reconcile_on_start
from tasks.workspace import Workspace
from usecases.ingest import IngestRun


def emit_ingested(run: IngestRun) -> None:
    for t in run.totals:
        emit(DATA_INGESTED, group_resource(t.group, t.delta_version), {
            "group": t.group, "files": list(t.files), "rows_stored": t.rows_stored,
            "rows_quarantined": t.rows_quarantined, "delta_version": t.delta_version})


def emit_arrived(paths: list[Path], group: str | None = None) -> None:
    """Named files were not seen by a watcher: announce their arrival here (origin "ingest", which
    the ingest trigger ignores, so the announcement cannot start a second ingestion). Their group
    is the one named (``--group``), else their landing folder's."""
    for path in paths:
        digest = drop_digest(path)
        if digest is None:  # a link or special file: ingestion refuses it by name, unread
            continue
        of = group or path.parent.name
        emit(DATA_ARRIVED, resource("file", digest, title=path.name, group=of, origin="ingest"),
             {"paths": [str(path)], "group": of, "sha256": digest})


@flow(name="ingest", log_prints=True)
def ingest_flow(paths: list[str] | None = None, home: LocalOnly[str | None] = None,
                overrides: dict[str, Any] | None = None, group: str | None = None) -> list[IngestReport]:
    """Ingest the named drops (files or folders; all of ``group`` when it is named), or every drop
    waiting under ``landing/<group>/``.

    Args:
        paths: files or folders to ingest; every waiting drop when empty.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
        group: the feature group the named files belong to; their landing folder's when empty.
    """
    ws = Workspace.open(home, **(overrides or {}))
    if group is not None:  # a group without a contract: refused before anything starts or is written
        if not paths:
            raise InputError(f"group {group!r} named without the files to ingest into it",
                             hint=f"name them: python -m flows ingest FILE|FOLDER --group {group}")
        named_contract(group, ws.contracts)
    reconcile_on_start(ws)
    try:
        files = landing_files(ws, paths)
        if paths:
            emit_arrived(files, group)
        run = ingest_drops(ws, files, group)
        emit_ingested(run)
        return list(run.reports)  # the CLI and the demo read the reports
    finally:
        checkpoint(ws)
