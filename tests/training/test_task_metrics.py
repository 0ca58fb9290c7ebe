"""Multiclass, regression and binary-at-a-threshold metrics agree with scikit-learn on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from driftline.errors import ConfigError, InputError
from training.metrics import (at_threshold, choose_threshold, evaluate, macro_f1, mae, multi_accuracy,
                              multi_logloss, naive_baseline, per_class_recall, rmse)


@pytest.mark.parametrize("seed", range(10))
def test_binary_metrics_at_a_threshold_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    y, p = rng.integers(0, 2, n), np.round(rng.random(n), 2)
    t = float(rng.choice(p))
    m = at_threshold(y, p, t)
    pred = p >= t
    assert m.precision == pytest.approx(skm.precision_score(y, pred, zero_division=0), abs=1e-12)
    assert m.recall == pytest.approx(skm.recall_score(y, pred, zero_division=0), abs=1e-12)
    assert m.f1 == pytest.approx(skm.f1_score(y, pred, zero_division=0), abs=1e-12)
    assert m.positive_rate == pytest.approx(pred.mean(), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_chosen_threshold_maximises_f1_over_every_candidate_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    y = rng.integers(0, 2, n)
    p = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 2)  # ties on purpose
    t = choose_threshold(y, p)
    best = max(skm.f1_score(y, p >= c, zero_division=0) for c in np.unique(p))
    assert skm.f1_score(y, p >= t, zero_division=0) == pytest.approx(best, abs=1e-12)
    assert t == max(c for c in np.unique(p) if skm.f1_score(y, p >= c, zero_division=0) >= best - 1e-12)


def test_threshold_refuses_bad_input() -> None:
    with pytest.raises(InputError):
        at_threshold([0, 1], [0.2, 0.8], 1.5)
    with pytest.raises(InputError):
        choose_threshold([0, 1], [0.2, float("nan")])
    with pytest.raises(InputError):
        choose_threshold([0, 2], [0.2, 0.3])
    with pytest.raises(ConfigError):
        choose_threshold([0, 1], [0.2, 0.3], objective="youden")


@pytest.mark.parametrize("seed", range(10))
def test_multiclass_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 300)), int(rng.integers(2, 6))
    y = rng.integers(0, k, n)
    P = rng.dirichlet(np.ones(k), n)
    labels = np.arange(k)
    assert multi_logloss(y, P) == pytest.approx(skm.log_loss(y, P, labels=labels), abs=1e-12)
    assert multi_accuracy(y, P) == pytest.approx(skm.accuracy_score(y, P.argmax(1)), abs=1e-12)
    assert macro_f1(y, P) == pytest.approx(skm.f1_score(y, P.argmax(1), average="macro", zero_division=0),
                                           abs=1e-12)
    expected = skm.recall_score(y, P.argmax(1), labels=labels, average=None, zero_division=0)
    present = np.isin(labels, y)
    assert np.allclose(per_class_recall(y, P)[present], expected[present], atol=1e-12)
    assert np.isnan(per_class_recall(y, P)[~present]).all()
    assert evaluate(y, P, "multiclass")["macro_f1"] == macro_f1(y, P)


def test_multiclass_refuses_bad_shapes_and_labels() -> None:
    P = np.full((3, 2), 0.5)
    for y, probs in (([0, 1, 2], P), ([0, 1], P), ([0, 1, 1], P[:, 0]), ([0.5, 1, 0], P)):
        with pytest.raises(InputError):
            multi_logloss(np.asarray(y), probs)


@pytest.mark.parametrize("seed", range(10))
def test_regression_metrics_and_baselines_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    y, v = rng.normal(100, 30, n), rng.normal(100, 30, n)
    assert rmse(y, v) == pytest.approx(np.sqrt(skm.mean_squared_error(y, v)), rel=1e-12)
    assert mae(y, v) == pytest.approx(skm.mean_absolute_error(y, v), rel=1e-12)
    assert naive_baseline(y) == pytest.approx(float(np.mean(y)), rel=1e-12)
    assert naive_baseline(y, "median") == pytest.approx(float(np.median(y)), rel=1e-12)


def test_regression_refuses_bad_input() -> None:
    with pytest.raises(InputError):
        rmse([1.0, 2.0], [1.0])
    with pytest.raises(InputError):
        mae([1.0, float("inf")], [1.0, 2.0])
    with pytest.raises(InputError):
        naive_baseline([])
    with pytest.raises(ConfigError):
        naive_baseline([1.0], "mode")
