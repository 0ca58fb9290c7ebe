"""Time-respecting validation splits: the model is always judged on times after those it saw.

Splits are made over the *distinct* values of the time column, never over rows, so all rows of one
timestamp fall on the same side and a holdout can never hold a time earlier than some training
time. :func:`time_holdout` keeps the latest share of times apart; :func:`expanding_folds` cuts the
times into consecutive blocks and validates block ``k+1`` on a model trained on blocks ``0..k``, as
a model in production is trained on the past and used on the next period. Too little data is a
:class:`TrainingError` that says how many distinct times were found and how many are needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from driftline.errors import TrainingError


@dataclass(frozen=True)
class TimeFold:
    """Row positions (into the frame given) of one fold; every valid time > every train time."""

    train: np.ndarray
    valid: np.ndarray


def _distinct_times(frame: pl.DataFrame, time_column: str) -> pl.Series:
    if time_column not in frame.columns:
        raise TrainingError(f"time column {time_column!r} is not in the frame (it has {frame.columns})",
                            hint="name the column that orders the rows in time")
    column = frame.get_column(time_column)
    if column.null_count():
        raise TrainingError(f"time column {time_column!r} has {column.null_count()} null value(s)",
                            hint="every training row needs a time")
    return column.unique().sort()


def time_holdout(frame: pl.DataFrame, time_column: str, fraction: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split into (train, holdout): the latest ``fraction`` of distinct times goes to the holdout."""
    if not 0 < fraction < 1:
        raise TrainingError(f"holdout fraction is {fraction}", hint="use a fraction between 0 and 1")
    times = _distinct_times(frame, time_column)
    if len(times) < 2:
        raise TrainingError(f"time column {time_column!r} has {len(times)} distinct value(s)",
                            hint="a time holdout needs at least 2 distinct times; add older data")
    # At least one time on each side, whatever the fraction.
    n_holdout = min(max(1, math.ceil(fraction * len(times))), len(times) - 1)
    cutoff = times[len(times) - n_holdout]
    is_holdout = pl.col(time_column) >= cutoff
    return frame.filter(~is_holdout), frame.filter(is_holdout)


def expanding_folds(frame: pl.DataFrame, time_column: str, n_folds: int) -> tuple[TimeFold, ...]:
    """``n_folds`` expanding-window folds over ``n_folds + 1`` consecutive blocks of distinct times."""
    if n_folds < 1:
        raise TrainingError(f"n_folds is {n_folds}", hint="use at least one fold")
    times = _distinct_times(frame, time_column)
    n_blocks = n_folds + 1
    if len(times) < n_blocks:
        raise TrainingError(
            f"time column {time_column!r} has {len(times)} distinct value(s), too few for {n_folds} folds",
            hint=f"expanding folds need at least {n_blocks} distinct times; use fewer folds or a holdout")
    # block id of each distinct time: equal-sized blocks of consecutive times
    block_of_time = pl.DataFrame({time_column: times,
                                  "_block": (np.arange(len(times)) * n_blocks) // len(times)})
    block = (frame.select(time_column).with_row_index("_row")
             .join(block_of_time, on=time_column, how="left").sort("_row")
             .get_column("_block").to_numpy())
    rows = np.arange(frame.height)
    return tuple(TimeFold(train=rows[block <= k], valid=rows[block == k + 1]) for k in range(n_folds))
