"""Item 8: a training set no model can learn from is refused in one line naming the column and
the fix (InputError, CLI exit 2), before the search opens a study."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from driftline.errors import InputError
from features.training_set import TrainingSet
from usecases.trainable import check_trainable

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ts(labels: list[object], *, times: int = 6, dtype: pl.DataType | None = None) -> TrainingSet:
    n = len(labels)
    frame = pl.DataFrame({"account_id": [f"a{i}" for i in range(n)],
                          "event_time": [T0 + timedelta(days=i % times) for i in range(n)],
                          "y": pl.Series("y", labels, dtype=dtype), "spend": [float(i) for i in range(n)]})
    return TrainingSet(frame=frame, entity_keys=("account_id",), time_column="event_time", label_column="y",
                       feature_columns=("spend",), categorical_columns=(), task="binary", versions={"accounts": 1},
                       fingerprint="f" * 64)


def _refusal(ts: TrainingSet, task: str = "binary", fraction: float = 0.2) -> InputError:
    with pytest.raises(InputError) as raised:
        check_trainable(ts, model="acct", label_group="accounts", task=task, holdout_fraction=fraction,
                        spec_file="home/models/acct.toml")
    error = raised.value
    assert "\n" not in error.message and error.hint and "\n" not in error.hint  # one line, with the fix
    return error


def test_trainable_data_passes() -> None:
    check_trainable(_ts([0, 1] * 12), model="acct", label_group="accounts", task="binary", holdout_fraction=0.2)
    check_trainable(_ts([0.5, 1.5, 3.0] * 8), model="acct", label_group="accounts", task="regression",
                    holdout_fraction=0.2)


def test_no_labelled_rows() -> None:
    error = _refusal(_ts([], dtype=pl.Int64()))
    assert "'accounts' has no labelled rows" in error.message and "ingest" in (error.hint or "")


def test_a_label_missing_from_the_data() -> None:
    error = _refusal(_ts([0, None, 1, None] * 6))
    assert "label 'y' of group 'accounts' is missing in 12 of 24 rows" in error.message
    assert "home/models/acct.toml" in (error.hint or "")


def test_a_constant_label() -> None:
    error = _refusal(_ts([1] * 24))
    assert "label 'y' of group 'accounts' is 1 in all rows: nothing to learn" in error.message


def test_a_label_constant_before_the_holdout() -> None:
    # Day 5 (the holdout) holds the only positives: the training rows hold one class.
    error = _refusal(_ts([int(i % 6 == 5) for i in range(24)]))
    assert "in the rows before the holdout" in error.message


def test_a_non_numeric_regression_label() -> None:
    error = _refusal(_ts(["high", "low"] * 12), task="regression")
    assert "regression label 'y' of group 'accounts' is String, not a number (e.g. 'high')" in error.message
    assert 'task = "multiclass"' in (error.hint or "")


def test_a_binary_label_of_three_values() -> None:
    error = _refusal(_ts(["yes", "no", "maybe"] * 8))
    assert "binary label 'y' of group 'accounts' holds 3 values ['maybe', 'no', 'yes'], not two" in error.message


def test_a_binary_label_of_two_strings_is_trainable() -> None:
    """Issue 14 gap: "yes"/"no" was refused as "not 0/1" before any search."""
    check_trainable(_ts(["yes", "no"] * 12), model="m", label_group="accounts", task="binary",
                    holdout_fraction=0.2, spec_file="models/m.toml")


@pytest.mark.parametrize("times", [1, 2])
def test_too_few_rows_for_a_holdout(times: int) -> None:
    error = _refusal(_ts([0, 1] * 4, times=times))
    assert f"at {times} distinct 'event_time' time(s)" in error.message
