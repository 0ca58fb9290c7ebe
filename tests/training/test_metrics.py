"""evaluate() agrees with hand-computed numbers; metric names are checked against the task."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.errors import ConfigError, TrainingError
from training import evaluate, resolve_metric


def test_binary_scores() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    scores = evaluate(y, p, "binary")
    assert scores["auc"] == pytest.approx(0.75)
    assert scores["accuracy"] == pytest.approx(0.5)
    assert scores["positive_rate"] == pytest.approx(0.5)
    assert scores["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert scores["logloss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))


def test_binary_auc_is_nan_on_one_class() -> None:
    assert math.isnan(evaluate(np.array([1, 1]), np.array([0.2, 0.8]), "binary")["auc"])


def test_regression_and_multiclass_scores() -> None:
    reg = evaluate(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]), "regression")
    assert reg["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert reg["mae"] == pytest.approx(2 / 3)
    assert reg["r2"] == pytest.approx(1 - 4 / 2)
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.2, 0.6]])
    multi = evaluate(np.array([0, 1]), probs, "multiclass")
    assert multi["accuracy"] == 0.5
    assert multi["logloss"] == pytest.approx(-(math.log(0.8) + math.log(0.2)) / 2)


def test_evaluate_refuses_mismatched_lengths() -> None:
    with pytest.raises(TrainingError, match="3 predictions against 2 labels"):
        evaluate(np.array([0, 1]), np.array([0.1, 0.2, 0.3]), "binary")


def test_metric_defaults_aliases_and_directions() -> None:
    assert resolve_metric("binary", None).direction == "maximize"
    assert resolve_metric("multiclass", None).name == "multi_logloss"
    assert resolve_metric("regression", "mae").name == "l1"
    assert resolve_metric("regression", None).direction == "minimize"
    with pytest.raises(ConfigError, match="does not fit task 'regression'"):
        resolve_metric("regression", "auc")
    with pytest.raises(ConfigError, match="unknown task"):
        resolve_metric("ranking", None)
