"""The erasure task: :func:`usecases.erase.erase_entities` with Prefect's logging, for flows.

The ``erase`` command calls the use case directly (it runs no flow); a flow that erases (a
scheduled batch of requests, say) calls this task, which adds the flow run's id to the entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.runtime import flow_run_id
from tasks.workspace import Workspace
from usecases.erase import ErasureResult, erase_entities


# No retries: an erasure half done by a failure is finished by running it again, by a person.
@task(name="erase-entities", cache_policy=NO_CACHE)
def erase(ws: Workspace, keys: Sequence[str], *, reason: str) -> ErasureResult:
    return erase_entities(ws, keys, reason=reason, flow_run_id=flow_run_id())
