"""Batch-scoring task: the ``score`` use case (:func:`usecases.score.score_latest`) with a retry.

The use case reads the latest feature values, scores them with the verified champion, appends them
to the ``predictions`` group and audits the batch; this task only adds Prefect's retry (an append
that failed wrote nothing, so one more try is safe) and the flow run in the audit actor.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.versions import ModelVersion
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace
from usecases.score import ScoreResult
from usecases.score import score_latest as score_latest_use_case

__all__ = ["score_latest"]


@task(name="score-latest", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def score_latest(ws: Workspace, champion: ModelVersion, out: Path | None = None) -> ScoreResult:
    result = score_latest_use_case(ws.store, ws.contracts, ws.settings.feature_groups, champion,
                                   audit=ws.audit, actor=ws.actor(flow_run_id()), state=ws.home.state, out=out)
    run_logger().info("%s v%d scored %d entities as of %s (predictions v%d)", result.model, result.version,
                      result.rows, result.as_of.isoformat(), result.delta_version)
    return result
