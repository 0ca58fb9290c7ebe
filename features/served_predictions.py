"""The ``served_predictions`` group's layout: what the online server scored, one row per scored row.

The prediction log (:mod:`serving.prediction_log`) appends these rows; the monitor
(:mod:`usecases.monitor`, ``source="served"``), the serving comparison and erasure read them. It is a
group of its own, not rows of the batch ``predictions`` group, for three reasons: the store's
readers deduplicate a group by its key columns, and batch predictions are keyed by (entity keys,
event time) while a served row may carry no entity key at all (features sent inline), so served
rows would collapse into each other; the batch monitor's label matching filters ``predictions`` by
model and version and would mix live traffic into batch performance; and served rows carry the
request's inputs, which would widen every batch read. What can be shared is: the score, model,
version and decision columns keep :mod:`features.predictions`' names, so
:func:`monitoring.labels.match_labels` takes a served frame as it takes a batch one, and the entity
key columns keep the contracts' names, so :meth:`features.store.FeatureStore.delete_entities`
erases them by the same key column. A served row is keyed by (request id, row, model, version,
received time): a retried request (same id, later time) is a second row, never a replacement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import polars as pl

from driftline.errors import InputError
from features.predictions import DECISION, MODEL, MODEL_VERSION, PREDICTED_CLASS, SCORE
from features.validation import INGESTED_AT, SOURCE

SERVED_GROUP = "served_predictions"
REQUEST_ID = "request_id"
ROW = "row"  # the row's position in its request
RECEIVED_AT = "received_at"  # when the request arrived (UTC): the time the score answers for
ALIAS = "alias"
ROLE = "role"  # champion, challenger or pinned
RETURNED = "returned"  # true for the rows the caller received
PROTOCOL = "protocol"  # v2 or mlflow
PREDICTION = "prediction"  # a regression model's output column (usecases.predict_file.prediction_columns)
PROBA_PREFIX = "proba_"  # a multiclass model's per-class probabilities
INPUT_PREFIX = "input."  # an input named like a column of this layout is stored under this prefix
KEY_COLUMNS = (REQUEST_ID, ROW, MODEL, MODEL_VERSION, RECEIVED_AT)
RESERVED = frozenset({REQUEST_ID, ROW, RECEIVED_AT, ALIAS, ROLE, RETURNED, PROTOCOL, MODEL, MODEL_VERSION,
                      SCORE, DECISION, PREDICTED_CLASS, PREDICTION, INGESTED_AT, SOURCE})

_UTC_US = pl.Datetime("us", "UTC")


def input_column(name: str) -> str:
    """Where the input ``name`` is stored: under its own name unless that is a layout column."""
    return f"{INPUT_PREFIX}{name}" if name in RESERVED or name.startswith(PROBA_PREFIX) else name


def served_inputs(frame: pl.DataFrame, features: Sequence[str]) -> pl.DataFrame:
    """The model's ``features`` from served rows, under their own names (the reverse of :func:`input_column`);
    a feature no served row carried is a column of nulls, which drift statistics treat as missing."""
    return frame.select(pl.col(input_column(f)).alias(f) if input_column(f) in frame.columns
                        else pl.lit(None).alias(f) for f in features)


def row_score(outputs: pl.DataFrame) -> pl.Series:
    """One number a row, as batch scores hold it: a binary model's ``score`` (P(class 1)), a
    multiclass model's highest class probability, a regression model's ``prediction``."""
    if SCORE in outputs.columns:
        return outputs[SCORE].cast(pl.Float64)
    probas = [c for c in outputs.columns if c.startswith(PROBA_PREFIX)]
    if probas:
        return outputs.select(pl.max_horizontal(probas).cast(pl.Float64).alias(SCORE))[SCORE]
    if PREDICTION in outputs.columns:
        return outputs[PREDICTION].cast(pl.Float64).alias(SCORE)
    raise InputError(f"served outputs with columns {outputs.columns} hold no score",
                     hint="hand the prediction log the columns of usecases.predict_file.prediction_columns")


def batch_source(request_ids: Sequence[str], logged_at: datetime) -> str:
    """The ``_source`` of one flushed commit: a digest of its requests and the moment, unique per commit."""
    digest = hashlib.sha256(logged_at.isoformat().encode())
    for rid in request_ids:
        digest.update(b"\0" + rid.encode())
    return digest.hexdigest()


def _key_column(key: str, entities: pl.DataFrame | None, inputs: pl.DataFrame) -> pl.Series | pl.Expr:
    """An entity key's values: looked up (``entities``), else sent inline as an input, else unknown."""
    for frame in (entities, inputs):
        if frame is not None and key in frame.columns:
            return frame[key]
    return pl.lit(None, dtype=pl.String).alias(key)


def served_frame(inputs: pl.DataFrame, outputs: pl.DataFrame, entities: pl.DataFrame | None, *,
                 entity_keys: Sequence[str], model: str, version: int, alias: str | None, role: str,
                 returned: bool, request_id: str, received_at: datetime, protocol: str, logged_at: datetime,
                 source: str) -> pl.DataFrame:
    """The stored rows of one request as one version scored it: bookkeeping, entity keys, inputs, outputs.

    Entity keys come from ``entities`` (an entity lookup) or else from the inputs when the caller sent
    the key column inline; either way they are stored under the key's own name, which erasure deletes
    by. ``logged_at`` is the row's ``_ingested_at``, ``source`` its ``_source`` (:func:`batch_source`).
    """
    n = outputs.height
    if inputs.height != n or (entities is not None and entities.height != n):
        raise InputError(f"a served batch of {request_id!r} has {inputs.height} input rows, {n} output rows"
                         + ("" if entities is None else f" and {entities.height} entity rows"),
                         hint="hand the prediction log one output row per input row")
    keys = [_key_column(k, entities, inputs) for k in entity_keys]
    taken = set(entity_keys)
    features = [inputs[c].alias(input_column(c)) for c in inputs.columns if c not in taken]
    # multiclass classes as text, whatever the label's type, as batch predictions hold them
    predicted = [outputs[c].cast(pl.String) if c == PREDICTED_CLASS else outputs[c]
                 for c in outputs.columns if c != SCORE]
    return pl.DataFrame({REQUEST_ID: [request_id] * n}).with_columns(
        pl.int_range(0, n, dtype=pl.Int64).alias(ROW),
        pl.lit(received_at).cast(_UTC_US).alias(RECEIVED_AT),
        pl.lit(model).alias(MODEL), pl.lit(version, dtype=pl.Int64).alias(MODEL_VERSION),
        pl.lit(alias, dtype=pl.String).alias(ALIAS), pl.lit(role).alias(ROLE),
        pl.lit(returned).alias(RETURNED), pl.lit(protocol).alias(PROTOCOL),
        *keys, row_score(outputs).alias(SCORE), *predicted, *features,
        pl.lit(logged_at).cast(_UTC_US).alias(INGESTED_AT), pl.lit(source).alias(SOURCE))
