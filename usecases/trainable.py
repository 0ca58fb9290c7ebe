"""Can this training set be trained on? The refusals a user can act on, before anything is written.

A run checks its training set here after it is built and before the search starts: no study is
opened, no version registered and nothing written when the data cannot make a model. Each refusal
is an :class:`~driftline.errors.InputError` (CLI exit 2) whose message names the model, the label
group and the column, and whose hint is the fix: the label missing from the data (no rows, or
null values), a non-numeric regression label, a binary label of more than two values, a constant label (in
all rows, or in the rows before the holdout), too few distinct label times for a time holdout and
its validation split. The same conditions would otherwise fail deep in the search, after the
study was created, as a LightGBM or Optuna message naming neither the column nor the fix.
"""

from __future__ import annotations

import polars as pl

from driftline.errors import InputError, TrainingError
from features.training_set import TrainingSet
from training.split import time_holdout

# The search validates on the latest times of the rows before the holdout: two distinct times there.
MIN_TRAIN_TIMES = 2


def check_trainable(ts: TrainingSet, *, model: str, label_group: str, task: str, holdout_fraction: float,
                    spec_file: str = "models/NAME.toml") -> None:
    """Refuse, in one line naming the column and the fix, a training set no model can be trained on."""
    label, where = ts.label_column, f"label {ts.label_column!r} of group {label_group!r}"
    if ts.frame.height == 0:
        raise InputError(f"model {model!r}: group {label_group!r} has no labelled rows to train on",
                         hint=f"ingest rows into {label_group!r} first (python -m flows ingest FILE --group "
                              f"{label_group})")
    column = ts.frame.get_column(label)
    if column.null_count():
        raise InputError(f"model {model!r}: {where} is missing in {column.null_count()} of {ts.frame.height} rows",
                         hint=f"ingest those rows with a value of {label!r}, or name another label_column "
                              f"in {spec_file}")
    if task == "regression" and not column.dtype.is_numeric():
        example = column.head(1).to_list()[0]
        raise InputError(f"model {model!r}: regression {where} is {column.dtype}, not a number "
                         f"(e.g. {example!r})",
                         hint=f"use a numeric label column, or set task = \"multiclass\" in {spec_file}")
    # Two values of any kind train (training.schema.binary_classes): 0/1, true/false, FEMALE/MALE, 1/2.
    if task == "binary" and column.drop_nulls().n_unique() > 2:
        found = sorted(map(str, column.drop_nulls().unique().to_list()))
        raise InputError(f"model {model!r}: binary {where} holds {len(found)} values {found[:5]}, not two",
                         hint=f"set task = \"multiclass\" in {spec_file}, or keep rows of two classes")
    _not_constant(column, model, where, "in all rows", label)
    times = ts.frame.get_column(ts.time_column).n_unique()
    try:
        train, _ = time_holdout(ts.frame, ts.time_column, holdout_fraction)
    except TrainingError as exc:  # fewer than 2 distinct times: the split explains it, we name the fix
        raise InputError(f"model {model!r}: {ts.frame.height} row(s) of {label_group!r} at {times} distinct "
                         f"{ts.time_column!r} time(s), too few for a time holdout",
                         hint=f"ingest labels of at least {MIN_TRAIN_TIMES + 1} distinct times") from exc
    if train.get_column(ts.time_column).n_unique() < MIN_TRAIN_TIMES:
        raise InputError(f"model {model!r}: {ts.frame.height} row(s) of {label_group!r} at {times} distinct "
                         f"{ts.time_column!r} time(s) leave {train.height} row(s) before the holdout, too few "
                         "to train and validate",
                         hint=f"ingest labels of more distinct times, or lower holdout_fraction in {spec_file}")
    if task != "regression":
        _not_constant(train.get_column(label), model, where, "in the rows before the holdout", label)


def _not_constant(column: pl.Series, model: str, where: str, rows: str, label: str) -> None:
    if column.n_unique() < 2:
        raise InputError(f"model {model!r}: {where} is {column.head(1).to_list()[0]!r} {rows}: nothing to learn",
                         hint=f"ingest rows with other values of {label!r}, or name another label column")
