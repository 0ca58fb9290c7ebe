"""The score use case: a verified model scores every entity's latest features into the store.

:func:`score_latest` reads the feature groups' current snapshots, anchors the batch at the data's
time (the newest event time, not the wall clock), scores the latest values with the model, appends
the rows to the ``predictions`` group (layout: :mod:`features.predictions`) and audits the batch,
returning a typed :class:`ScoreResult`. The ``score`` flow wraps it in a task for retries and
logging; the monitor later matches these rows with the labels that arrive. :func:`predict` is the
one way a stored model turns a frame into its task's float array (P(class 1); an (n, k) probability
matrix; the value), for scoring, training and monitoring; :func:`row_scores` folds that into one
number a row (P(class 1), the predicted class's probability, the value), which the predictions'
``score`` column, the reference profile and the drift monitor all hold. Each row also carries the
decision in the label's terms: a binary model's 0/1 at the threshold stored in its schema (and, for a
label of two values other than 0/1 such as yes/no, the value it names as ``predicted_class``), a
multiclass model's predicted class (as text, whatever the label's type).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime

import numpy as np
import polars as pl

from driftline.atomic import write_atomic
from driftline.clock import utc_now
from driftline.errors import ConfigError
from features.contracts import FeatureGroupContract
from features.latest import latest_event_times, latest_features
from features.predictions import (DECISION, EVENT_TIME, FEATURE_TIME, PREDICTED_CLASS, PREDICTIONS_GROUP,
                                  predictions_frame)
from features.validation import INGESTED_AT, SOURCE
from features.snapshot_queries import newest_event_time
from features.store import FeatureStore
from governance.actor import Actor
from governance.audit import AuditLog
from registry.versions import ModelVersion
from training.model import TrainedModel
from usecases.predict_file import table_bytes
from usecases.reconcile_lock import writer_lock


@dataclass(frozen=True)
class ScoreResult:
    """One scored batch: who scored it, how many rows, at which data time, in which Delta version.

    ``as_of`` is the data time the latest values were read at (UTC); ``mean_score`` (of the ``score``
    column: P(class 1), the predicted class's probability, or the value) is None for an empty batch.
    """

    model: str
    version: int
    rows: int
    as_of: datetime
    delta_version: int
    mean_score: float | None
    out: Path | None = None


def predict(model: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    """The model's scores on ``frame`` as a float array: P(class 1) for a binary model, an (n, k)
    probability matrix in ``schema.classes`` order for a multiclass one, the value for regression."""
    return np.asarray(model.predict(frame), dtype=float)


def row_scores(model: TrainedModel, scores: np.ndarray) -> np.ndarray:
    """One number a row from :func:`predict`'s ``scores``: the predicted class's probability for a
    multiclass model (never the matrix flattened, which has k numbers a row), else the scores."""
    if model.task == "multiclass":
        return np.asarray(scores, dtype=float).max(axis=1) if len(scores) else np.zeros(0)
    return np.asarray(scores, dtype=float)


def decisions(model: TrainedModel, scores: np.ndarray) -> dict[str, np.ndarray]:
    """The decision columns of a scored batch by name: binary ``decision`` (0/1 at the model's
    threshold) and, when its label is not 0/1 (``schema.names_decisions``), ``predicted_class`` (the
    label value the decision names, as text); multiclass ``predicted_class`` (the label value as
    text); none for regression."""
    if model.task == "binary":
        threshold = model.schema.threshold if model.schema.threshold is not None else 0.5
        decided = (np.asarray(scores) >= threshold).astype(np.int64)
        if not model.schema.names_decisions:
            return {DECISION: decided}
        # A label of two strings (yes/no): the decision told in the label's terms too, as text.
        named = np.asarray([str(v) for v in model.schema.class_values(decided)], dtype=object)
        return {DECISION: decided, PREDICTED_CLASS: named}
    if model.task == "multiclass":
        codes = np.asarray(scores).argmax(axis=1) if len(scores) else np.zeros(0, dtype=np.int64)
        return {PREDICTED_CLASS: np.asarray([str(v) for v in model.schema.class_values(codes)], dtype=object)}
    return {}


def batch_source(model: str, version: int, scored_at: datetime) -> str:
    """The batch's ``_source``: a digest naming the model version and the moment, unique per batch."""
    return hashlib.sha256(f"{model}:{version}:{scored_at.isoformat()}".encode()).hexdigest()


def entity_keys(contracts: Mapping[str, FeatureGroupContract], feature_groups: Sequence[str]) -> tuple[str, ...]:
    """The entity keys the feature groups share (``latest_features`` refuses groups that differ)."""
    if not feature_groups:
        raise ConfigError("the model names no feature group to score from",
                          hint="set the model's feature_groups (DRIFTLINE_FEATURE_GROUPS)")
    return contracts[feature_groups[0]].entity_keys


def score_latest(store: FeatureStore, contracts: Mapping[str, FeatureGroupContract], feature_groups: Sequence[str],
                 champion: ModelVersion, *, audit: AuditLog, actor: Actor, state: Path,
                 clock: Callable[[], datetime] = utc_now, out: Path | None = None) -> ScoreResult:
    """Score every entity's latest features with ``champion`` (loaded verified by the caller),
    append the rows to the predictions group in one commit and audit the batch. The commit and its
    entry are made under the writers' share of ``state``'s reconcile lock, so no reconcile runs
    between them and mistakes a live batch for a crashed one. With ``out`` (.csv or .parquet) the
    batch's rows are also written there, atomically, after the commit: the entity keys, the data
    and feature times, the score, the model and its version, and the task's decision column
    (a binary model's ``decision`` at its stored threshold, with ``predicted_class`` when its label is
    not 0/1; a multiclass model's ``predicted_class``)."""
    if out is not None:
        table_bytes(pl.DataFrame(), out)  # an unknown suffix is refused before anything is scored
    keys = entity_keys(contracts, feature_groups)
    snapshots = [store.snapshot(g) for g in feature_groups]
    as_of = newest_event_time(snapshots, contracts)
    frame = latest_features(snapshots, contracts, as_of=as_of)
    # Each row's feature time, aligned by keys: the label matcher starts from it (monitoring.labels).
    times = frame.select(keys).join(latest_event_times(snapshots, contracts, as_of=as_of, name=FEATURE_TIME),
                                    on=list(keys), how="left", maintain_order="left")[FEATURE_TIME]
    model = TrainedModel.load(champion.path)
    raw = predict(model, frame)
    scores = row_scores(model, raw)
    scored_at = clock()
    source = batch_source(champion.model, champion.version, scored_at)
    table = predictions_frame(frame, keys, scores, as_of=as_of, scored_at=scored_at, model=champion.model,
                              version=champion.version, source=source, decisions=decisions(model, raw),
                              feature_times=times)
    mean = float(scores.mean()) if len(scores) else None
    with writer_lock(state):
        # The entity keys are personal data as far as the store knows: no min/max statistics on them.
        delta_version = store.append(PREDICTIONS_GROUP, table.to_arrow(), sources=[source],
                                     key_columns=(*keys, EVENT_TIME), pii_columns=keys)
        audit.append("model.score", f"model:{champion.model}:v{champion.version}", {
            "rows": table.height, "group": PREDICTIONS_GROUP, "delta_version": delta_version,
            "mean_score": mean}, actor=actor)
    if out is not None:
        exported = table.drop(INGESTED_AT, SOURCE)
        write_atomic(out, table_bytes(exported, out), staged="score.out.staged", replaced="score.out.replaced")
    return ScoreResult(model=champion.model, version=champion.version, rows=table.height, as_of=as_of,
                       delta_version=delta_version, mean_score=mean, out=out)
