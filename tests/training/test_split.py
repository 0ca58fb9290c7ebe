"""Time splits never leak the future into training, and refuse data too short to split."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import TrainingError
from training import expanding_folds, time_holdout

times = st.lists(st.integers(0, 40), min_size=2, max_size=200).filter(lambda t: len(set(t)) >= 2)


@given(times=times, fraction=st.floats(0.01, 0.99))
@settings(max_examples=60, deadline=None)
def test_holdout_times_all_after_train_times(times: list[int], fraction: float) -> None:
    frame = pl.DataFrame({"t": times, "row": range(len(times))})
    train, holdout = time_holdout(frame, "t", fraction)
    assert train.height > 0 and holdout.height > 0
    assert train.height + holdout.height == frame.height
    assert holdout["t"].min() > train["t"].max()
    assert sorted([*train["row"], *holdout["row"]]) == list(range(len(times)))


def test_holdout_takes_the_latest_share_of_distinct_times() -> None:
    # 10 distinct days, many rows on day 0: the split counts days, not rows.
    frame = pl.DataFrame({"t": [0] * 50 + list(range(1, 10))})
    train, holdout = time_holdout(frame, "t", 0.2)
    assert sorted(holdout["t"].to_list()) == [8, 9]
    assert train.height == 57


def test_holdout_refuses_a_single_time() -> None:
    with pytest.raises(TrainingError, match="1 distinct value"):
        time_holdout(pl.DataFrame({"t": [3, 3, 3]}), "t", 0.2)


def test_holdout_names_missing_or_null_time_column() -> None:
    with pytest.raises(TrainingError, match="'when' is not in the frame"):
        time_holdout(pl.DataFrame({"t": [1, 2]}), "when", 0.5)
    with pytest.raises(TrainingError, match="null"):
        time_holdout(pl.DataFrame({"t": [1, None, 2]}), "t", 0.5)


@given(times=st.lists(st.integers(0, 30), min_size=4, max_size=150).filter(lambda t: len(set(t)) >= 4),
       n_folds=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_expanding_folds_validate_on_later_times_and_grow(times: list[int], n_folds: int) -> None:
    frame = pl.DataFrame({"t": times})
    folds = expanding_folds(frame, "t", n_folds)
    t = np.asarray(times)
    assert len(folds) == n_folds
    for k, fold in enumerate(folds):
        assert len(fold.train) and len(fold.valid)
        assert t[fold.valid].min() > t[fold.train].max()
        if k:
            assert set(folds[k - 1].train) | set(folds[k - 1].valid) == set(fold.train)


def test_expanding_folds_refuse_too_few_times() -> None:
    with pytest.raises(TrainingError, match="too few for 3 folds"):
        expanding_folds(pl.DataFrame({"t": [1, 2, 3]}), "t", 3)
