"""The objective's data and patience: "auto" validation picks folds on small frames and a holdout
on large ones, the refit scale follows the training rows, early stopping waits longer for slow
learning rates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from training.objective import AUTO_FOLDS_BELOW_ROWS, Objective, prepare_validation

ARGS = {"features": ["a", "b", "colour"], "categorical": ["colour"], "label": "y", "time_column": "day",
        "task": "binary", "validation_fraction": 0.2, "n_folds": 3}


def test_auto_uses_expanding_folds_on_a_small_frame(binary_frame) -> None:
    data = prepare_validation(binary_frame, validation="auto", **ARGS)
    assert len(data.folds) == 3 and data.x_valid is None and data.n_rows == binary_frame.height
    # the largest training part holds 3 of 4 time blocks: a refit on all rows needs 4/3 the rounds
    assert data.refit_scale == pytest.approx(binary_frame.height / max(len(t) for t, _ in data.folds))
    assert 1.3 < data.refit_scale < 1.4


def test_auto_uses_a_holdout_on_a_large_frame(make_binary) -> None:
    frame = make_binary(n=AUTO_FOLDS_BELOW_ROWS + 20)
    data = prepare_validation(frame, validation="auto", **ARGS)
    assert data.folds == () and data.x_valid is not None
    assert data.refit_scale == pytest.approx(frame.height / len(data.y))


def test_auto_falls_back_to_a_holdout_with_too_few_times(binary_frame) -> None:
    few_days = binary_frame.with_columns(day=pl.Series(np.arange(binary_frame.height) % 3))
    data = prepare_validation(few_days, validation="auto", **ARGS)
    assert data.folds == () and data.x_valid is not None


def test_early_stopping_patience_grows_as_the_learning_rate_falls(binary_frame) -> None:
    data = prepare_validation(binary_frame, validation="holdout", **ARGS)
    objective = Objective(data, {}, {}, "auc", max_rounds=100, early_stopping_rounds=30, report_every=5)
    assert objective.patience_for({"learning_rate": 0.3}) == 30  # never below the configured rounds
    assert objective.patience_for({"learning_rate": 0.1}) == 30
    assert objective.patience_for({"learning_rate": 0.01}) == 300
    assert objective.patience_for({}) == 30
