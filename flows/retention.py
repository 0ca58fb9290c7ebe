"""The enforce-retention flow (daily cron): rows older than their group's ``retention_days`` go.

The same use case as ``python -m flows enforce-retention`` (``usecases.retention``, in the task
``tasks.retention.retain``), as a deployment so that retention runs on schedule and its counts
show in the Prefect UI.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.retention import retain
from tasks.workspace import Workspace


@flow(name="enforce-retention", log_prints=True)
def enforce_retention_flow(home: str | None = None, overrides: dict[str, Any] | None = None) -> int:
    """Delete and vacuum the expired rows of every group with ``retention_days``; the rows deleted."""
    ws = Workspace.open(home, **(overrides or {}))
    result = retain(ws)
    lines = [f"| {g.group} | {g.retention_days} | {g.cutoff} | {g.rows_deleted} | {g.files_removed} |"
             for g in result.groups]
    create_markdown_artifact(key="enforce-retention", description="Retention run (counts only)",
                             markdown="\n".join(["| group | days | cutoff | rows deleted | files removed |",
                                                 "|---|---|---|---|---|", *lines]))
    return result.rows_deleted
