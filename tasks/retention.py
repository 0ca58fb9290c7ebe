"""The retention task: :func:`usecases.retention.enforce_retention` for the daily flow.

The ``enforce-retention`` command calls the use case directly (it runs no flow); the scheduled
``enforce-retention`` flow calls this task, which adds the flow run's id to the ``retention`` entry.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.runtime import flow_run_id
from tasks.workspace import Workspace
from usecases.retention import RetentionResult, enforce_retention


# No retries needed for correctness: a rerun finishes (and counts) what a failed run began.
@task(name="enforce-retention", cache_policy=NO_CACHE)
def retain(ws: Workspace) -> RetentionResult:
    return enforce_retention(ws, flow_run_id=flow_run_id())
