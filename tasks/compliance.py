"""The compliance-export task: :func:`usecases.export.export_audit` for the ``audit-export`` flow.

The ``audit export`` command calls the use case directly (it runs no flow); the monthly flow
calls this task, which adds the flow run's id to the ``audit.export`` entry.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.progress import terminal_bar
from tasks.runtime import flow_run_id
from tasks.workspace import Workspace
from usecases.export import ExportResult, export_audit


# No retries: a failed export leaves no bundle behind (or a whole one); the next run writes anew.
@task(name="export-audit", cache_policy=NO_CACHE)
def export(ws: Workspace, *, out: Path | None = None, since: str | None = None,
           until: str | None = None, model: str | None = None, pii_policy: str | None = None,
           formats: tuple[str, ...] = ()) -> ExportResult:
    with terminal_bar("audit export") as progress:
        return export_audit(ws, out=out, since=since, until=until, flow_run_id=flow_run_id(), model=model,
                            pii_policy=pii_policy, formats=formats, progress=progress)
