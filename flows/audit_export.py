"""The audit-export flow (monthly cron): a signed, offline-verifiable bundle for an auditor.

The same use case as ``python -m flows audit export`` (``usecases.export``, in the task
``tasks.compliance.export``), as a deployment so that
compliance exports happen on schedule and show in the Prefect UI with their location.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.catalog import LocalOnly
from tasks.compliance import export
from tasks.workspace import Workspace


@flow(name="audit-export", log_prints=True)
def audit_export_flow(since: str | None = None, until: str | None = None, home: LocalOnly[str | None] = None,
                      overrides: dict[str, Any] | None = None, model: str | None = None) -> str:
    """Export the audit entries of [since, until) with everything needed to verify them offline;
    with ``model``, only that model's entries and versions whole (the rest of the chain as links).

    Args:
        since: first entry time, ISO 8601 with an offset; the trail's start when empty.
        until: end of the export (exclusive), ISO 8601 with an offset; now when empty.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
        model: export only this model's entries and versions; every model when empty.
    """
    ws = Workspace.open(home, **(overrides or {}))
    path = export(ws, since=since, until=until, model=model).path
    create_markdown_artifact(key="audit-export", markdown=f"Audit export written to `{path}`",
                             description="Compliance export bundle")
    return str(path)
