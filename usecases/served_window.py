"""Served traffic as the monitor's current window: what the online server answered as champion.

``python -m flows monitor --source served`` judges the rows the prediction log stored
(:mod:`features.served_predictions`) instead of the rows that arrived in the feature groups. The
window is the model's rows that the server returned as its champion (``role`` champion,
``returned`` true; a shadow or canary challenger's rows are the comparison's business, not drift),
received in ``[since, until)``, by default the ``window_days`` ending just after the newest served
row (the server's own data time). Feature drift compares their inputs with the reference profile;
prediction drift compares the scores the server returned, not a recomputation (they are equal bit
for bit, but what was answered is what is judged). Labels that arrive later are matched to served
rows by :func:`served_scores` exactly as to batch scores (:func:`usecases.monitor.labelled_scores`):
by entity key, from the time the request was received, within the horizon; a row scored on features
sent without their entity key can never be labelled and is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from driftline.errors import NotFoundError
from features.predictions import EVENT_TIME, MODEL, MODEL_VERSION, PREDICTED_CLASS, SCORE
from features.served_predictions import RECEIVED_AT, RETURNED, ROLE, SERVED_GROUP, input_column, served_inputs
from features.store import FeatureStore
from monitoring.windows import Window, window_bounds

SOURCES = ("store", "served")


@dataclass(frozen=True)
class ServedWindow:
    """The served rows of a window: ``window.frame`` holds their inputs, ``scores`` what was returned."""

    window: Window
    scores: np.ndarray


def champion_rows(store: FeatureStore, model: str) -> pl.LazyFrame | None:
    """Every row the server returned as ``model``'s champion (any version), as a lazy scan of the served
    table (:meth:`FeatureStore.scan`: a window is read without the rest of a table that can outgrow
    memory); None when nothing was ever served."""
    if SERVED_GROUP not in store.groups():
        return None
    return store.scan(SERVED_GROUP).filter((pl.col(MODEL) == model) & (pl.col(ROLE) == "champion")
                                           & pl.col(RETURNED))


def served_window(store: FeatureStore, model: str, features: Sequence[str], window_days: int, *,
                  since: datetime | None = None, until: datetime | None = None) -> ServedWindow:
    """The champion's served rows received in ``[since, until)`` (default: the ``window_days`` ending at the
    newest served row), their ``features`` under their own names and their returned scores."""
    rows = champion_rows(store, model)
    newest = None if rows is None else rows.select(pl.col(RECEIVED_AT).max()).collect().item()
    if newest is None:
        raise NotFoundError(f"the server has logged no answer of {model!r}'s champion in "
                            f"store/{SERVED_GROUP}", hint=f"serve it with `python -m flows predict-server --model "
                                                          f"{model}`, or monitor the store (--source store)")
    assert isinstance(newest, datetime) and rows is not None
    start, end = window_bounds(newest, window_days, since=since, until=until)
    stored = rows.collect_schema().names()
    wanted = [input_column(f) for f in features if input_column(f) in stored]
    inside = rows.filter((pl.col(RECEIVED_AT) >= start) & (pl.col(RECEIVED_AT) < end)).select(*wanted, SCORE).collect()
    return ServedWindow(Window(start=start, end=end, frame=served_inputs(inside, features)),
                        inside[SCORE].cast(pl.Float64).to_numpy())


def served_scores(store: FeatureStore, model: str, version: int, keys: Sequence[str]) -> pl.DataFrame | None:
    """``version``'s served champion rows that carry ``keys``, as label matching takes scores: ``*keys``,
    ``event_time`` (when the request was received), ``score`` and a multiclass model's
    ``predicted_class`` when the rows hold one; None when there are none."""
    rows = champion_rows(store, model)
    stored = [] if rows is None else rows.collect_schema().names()
    if rows is None or any(k not in stored for k in keys):
        return None
    predicted = [PREDICTED_CLASS] if PREDICTED_CLASS in stored else []
    found = (rows.filter((pl.col(MODEL_VERSION) == version) & pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
             .select(*keys, pl.col(RECEIVED_AT).alias(EVENT_TIME), SCORE, *predicted).collect())
    return found if found.height else None
