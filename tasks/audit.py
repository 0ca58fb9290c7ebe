"""Audit-trail tasks: the signed checkpoint that closes every flow run.

Entries are appended by the tasks that act; a checkpoint signs the chain's head so that everything
the run wrote is covered by a signature once the run ends (see governance.audit).
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from governance.audit import Checkpoint
from tasks.workspace import Workspace


@task(name="audit-checkpoint", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def checkpoint(ws: Workspace) -> Checkpoint:
    return ws.audit.checkpoint(ws.signing_key())
