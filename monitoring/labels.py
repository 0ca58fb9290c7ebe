"""Label matching: the champion's stored batch scores joined with the labels that arrived later.

A score made on an entity's features of time *t* is matched with that entity's first label event at
or after *t* (``t <= label time``: equal times match, so a delayed label stamped with the time of the
features it labels, a common layout, answers the score made on them), and only while the label is
younger than *t* + horizon: a label from long after answers a different question. The callers pass
*t* as the score's ``event_time``: the stored batch's feature time where it has one.
:func:`match_labels` works on two plain frames, so the rule is tested on three-row frames; reading
them from the store is the caller's job. The result is a
:class:`LabelledScores`, which cannot be built misaligned or with labels other than 0, 1 or NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from driftline.errors import InputError


TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True, eq=False)
class LabelledScores:
    """Labels (NaN where not yet known) and the predictions they judge, row by row, per ``task``:
    binary labels 0/1 against P(class 1); multiclass label class codes 0..k-1 against the predicted
    class's code (the batch keeps the predicted class, not the matrix); regression values against
    predicted values."""

    labels: np.ndarray
    scores: np.ndarray
    task: str = "binary"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"unknown task {self.task!r} for labelled scores", hint=f"use one of {', '.join(TASKS)}")
        labels = np.asarray(self.labels, dtype=np.float64).ravel()
        scores = np.asarray(self.scores, dtype=np.float64).ravel()
        if labels.size != scores.size:
            raise InputError(f"{labels.size} labels for {scores.size} predictions",
                             hint="pass one label per scored row (NaN where it has not arrived)")
        known = np.isfinite(labels) & np.isfinite(scores)
        if self.task == "binary" and not np.isin(labels[known], (0.0, 1.0)).all():
            raise InputError("labels must be 0 or 1 (or NaN where not yet known)",
                             hint="performance drift is measured as ROC AUC of a binary task")
        codes = np.concatenate([labels[known], scores[known]])
        if self.task == "multiclass" and not ((codes >= 0) & (codes == np.round(codes))).all():
            raise InputError("multiclass labels and predictions must be class codes 0..k-1 (or NaN)",
                             hint="map both through the model's classes (FeatureSchema.classes)")
        # Frozen, so the normalised arrays are set the one way a frozen dataclass allows.
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "scores", scores)

    @property
    def rows(self) -> int:
        return int(self.labels.size)


def match_labels(scores: pl.DataFrame, labels: pl.DataFrame, *, keys: Sequence[str],
                 horizon: timedelta, task: str = "binary") -> LabelledScores | None:
    """Match ``scores`` (``*keys``, ``event_time``, ``score``) with ``labels`` (``*keys``,
    ``label_time``, ``label``); None while no score has a label within the horizon. ``task`` says
    what the numbers are (:class:`LabelledScores`)."""
    need = {"scores": (scores, [*keys, "event_time", "score"]), "labels": (labels, [*keys, "label_time", "label"])}
    for what, (frame, columns) in need.items():
        if missing := [c for c in columns if c not in frame.columns]:
            raise InputError(f"{what} frame lacks columns {missing}; it has {frame.columns}",
                             hint=f"select {columns} before matching labels")
    if scores.is_empty() or labels.is_empty():
        return None
    # A group timed by dates (a contract's `date` event time) meets predictions timed in UTC
    # microseconds: a date is its midnight UTC, and both sides join on the one type.
    utc = pl.Datetime("us", "UTC")
    scores = scores.with_columns(pl.col("event_time").cast(utc))
    labels = labels.with_columns(pl.col("label_time").cast(utc))
    matched = (scores.sort("event_time")
               .join_asof(labels.sort("label_time"), left_on="event_time", right_on="label_time",
                          by=list(keys), strategy="forward",
                          check_sortedness=False)  # sorted by time, hence per group
               .filter(pl.col("label_time").is_not_null()
                       & (pl.col("label_time") < pl.col("event_time") + horizon)))
    if matched.is_empty():
        return None
    return LabelledScores(matched["label"].cast(pl.Float64).to_numpy(), matched["score"].cast(pl.Float64).to_numpy(),
                          task=task)
