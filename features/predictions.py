"""The ``predictions`` group's layout: the one place that names its columns.

Batch scoring appends one row per entity to the store's ``predictions`` group, and the monitor reads
them back to match them with the labels that arrive later. Both sides take the column names from
here, so a rename is one edit. A predictions row follows the store's row convention (the
bookkeeping columns of :mod:`features.validation`), so the store's readers deduplicate it like any
other row: keyed by the entity keys and the event time (the data time the batch was scored at).
A batch may add decision columns (:data:`DECISION` for a binary model at its threshold,
:data:`PREDICTED_CLASS` for a multiclass one); the store merges them into the table's schema, and
rows of other models hold nulls there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import polars as pl

from driftline.errors import InputError
from features.validation import INGESTED_AT, SOURCE

PREDICTIONS_GROUP = "predictions"
EVENT_TIME = "event_time"
# The time of the features a row was scored on (each entity's newest row read); batches stored before
# this column existed lack it, and their labels are matched from EVENT_TIME.
FEATURE_TIME = "feature_time"
SCORED_AT = "scored_at"
SCORE = "score"
MODEL = "model"
MODEL_VERSION = "model_version"
DECISION = "decision"  # binary: 1 when the score reaches the model's decision threshold
PREDICTED_CLASS = "predicted_class"  # multiclass: the predicted label value, as text
_DECISION_TYPES = {DECISION: pl.Int64, PREDICTED_CLASS: pl.String}

_UTC_US = pl.Datetime("us", "UTC")


def predictions_frame(entities: pl.DataFrame, keys: Sequence[str], scores: np.ndarray, *, as_of: datetime,
                      scored_at: datetime, model: str, version: int, source: str,
                      decisions: Mapping[str, np.ndarray] | None = None,
                      feature_times: pl.Series | None = None) -> pl.DataFrame:
    """One predictions row per row of ``entities`` (its ``keys`` kept), scored by ``model`` v``version``.

    ``as_of`` is the data time the features were read at (the row's event time); ``scored_at`` is
    when the batch was scored, also its ``_ingested_at``; ``source`` names the batch (its ``_source``).
    ``decisions`` maps :data:`DECISION` or :data:`PREDICTED_CLASS` to one value per row;
    ``feature_times``, one per row, the time of the features each row was scored on (``FEATURE_TIME``).
    """
    if np.ndim(scores) != 1 or len(scores) != entities.height:
        shape = "" if np.ndim(scores) == 1 else f" in shape {np.shape(scores)}"
        raise InputError(f"{np.size(scores)} scores for {entities.height} entities{shape}",
                         hint="score every row of the latest-values frame once, one number a row "
                              "(a multiclass model's predicted-class probability, not its matrix)")
    missing = [k for k in keys if k not in entities.columns]
    if not keys or missing:
        raise InputError(f"entity keys {missing or list(keys)} are not columns of the scored frame",
                         hint="pass the entity keys of the feature groups' contract")
    extra = []
    for name, values in (decisions or {}).items():
        if name not in _DECISION_TYPES or len(values) != entities.height:
            raise InputError(f"decision column {name!r} with {len(values)} values for {entities.height} rows",
                             hint=f"pass one value a row for one of {sorted(_DECISION_TYPES)}")
        extra.append(pl.Series(name, values, dtype=_DECISION_TYPES[name]))
    if feature_times is not None and feature_times.len() != entities.height:
        raise InputError(f"{feature_times.len()} feature times for {entities.height} entities",
                         hint="pass one feature time per row of the latest-values frame")
    times = [] if feature_times is None else [feature_times.cast(_UTC_US).alias(FEATURE_TIME)]
    return entities.select(keys).with_columns(
        pl.lit(as_of).cast(_UTC_US).alias(EVENT_TIME), *times,
        pl.lit(scored_at).cast(_UTC_US).alias(SCORED_AT),
        pl.Series(SCORE, np.asarray(scores, dtype=float), dtype=pl.Float64),
        pl.lit(model).alias(MODEL),
        pl.lit(version, dtype=pl.Int64).alias(MODEL_VERSION),
        pl.lit(scored_at).cast(_UTC_US).alias(INGESTED_AT),
        pl.lit(source).alias(SOURCE), *extra)
