"""Batch-scoring task: latest feature values of every entity, scored by a verified version,
appended to the ``predictions`` group with the version that made them and audited.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from features.latest import latest_features
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id
from tasks.training import predict
from tasks.workspace import Workspace
from training.model import TrainedModel
from usecases.reconcile_lock import writer_lock

PREDICTIONS_GROUP = "predictions"


@task(name="score-latest", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def score_latest(ws: Workspace, champion: ModelVersion) -> tuple[int, datetime, int]:
    snapshots = [ws.store.snapshot(g) for g in ws.settings.feature_groups]
    as_of = ws.data_time(snapshots)
    frame = latest_features(snapshots, ws.contracts, as_of=as_of)
    scores = predict(TrainedModel.load(champion.path), frame)
    scored_at = datetime.now(timezone.utc)
    source = hashlib.sha256(f"{champion.model}:{champion.version}:{scored_at.isoformat()}".encode()).hexdigest()
    keys = ws.contracts[ws.settings.feature_groups[0]].entity_keys
    table = frame.select(keys).with_columns(
        pl.lit(as_of).cast(pl.Datetime("us", "UTC")).alias("event_time"),
        pl.lit(scored_at).cast(pl.Datetime("us", "UTC")).alias("scored_at"),
        pl.Series("score", scores, dtype=pl.Float64),
        pl.lit(champion.model).alias("model"),
        pl.lit(champion.version, dtype=pl.Int64).alias("model_version"),
        # the store's row convention (features.snapshot): when and from what each row came
        pl.lit(scored_at).cast(pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(source).alias("_source"))
    with writer_lock(ws.home.state):  # the commit and its entry, with no reconcile between them
        delta_version = ws.store.append(PREDICTIONS_GROUP, table.to_arrow(), sources=[source],
                                        key_columns=(*keys, "event_time"), pii_columns=keys)
        ws.audit.append("model.score", f"model:{champion.model}:v{champion.version}", {
            "rows": table.height, "group": PREDICTIONS_GROUP, "delta_version": delta_version,
            "mean_score": float(scores.mean()) if len(scores) else None}, actor=ws.actor(flow_run_id()))
    return table.height, as_of, delta_version
