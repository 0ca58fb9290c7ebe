"""Scores of a model on labelled data, and the LightGBM validation metrics a search may optimise.

This is the one home of driftline's metrics: the gate's policies (:mod:`governance.evidence`,
:mod:`governance.gate_stats`), the drift monitor's performance (:mod:`monitoring.performance`) and
the training run all call the functions here. The binary metrics are plain numpy: :func:`roc_auc`
is the Mann–Whitney U over midranks (ties get half credit), vectorised over leading axes so that a
bootstrap ranks its resamples in one pass, and tests hold every binary metric equal to
scikit-learn's to 1e-12 on random data with ties. :func:`evaluate` gives the evaluation gate and
the reports one fixed set of numbers per task. :func:`resolve_metric`
maps a user's metric name (or the task's default) to LightGBM's own name and to the direction of
the search, refusing names that do not fit the task before any trial runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from driftline.errors import ConfigError, InputError, TrainingError

LOGLOSS_CLIP = 1e-15

TASKS = ("binary", "multiclass", "regression")

# LightGBM metric names per task, aliases mapped to the name LightGBM reports in its eval results.
_METRICS: dict[str, dict[str, str]] = {
    "binary": {"auc": "auc", "average_precision": "average_precision",
               "binary_logloss": "binary_logloss", "logloss": "binary_logloss",
               "binary_error": "binary_error"},
    "multiclass": {"multi_logloss": "multi_logloss", "logloss": "multi_logloss",
                   "multi_error": "multi_error", "auc_mu": "auc_mu"},
    "regression": {"rmse": "rmse", "l2": "l2", "mse": "l2", "l1": "l1", "mae": "l1",
                   "huber": "huber", "mape": "mape"},
}
_DEFAULT = {"binary": "auc", "multiclass": "multi_logloss", "regression": "rmse"}
_HIGHER_IS_BETTER = frozenset({"auc", "average_precision", "auc_mu"})


@dataclass(frozen=True)
class MetricChoice:
    """The metric a search optimises: LightGBM's name and Optuna's direction."""

    name: str
    direction: Literal["maximize", "minimize"]


def resolve_metric(task: str, metric: str | None) -> MetricChoice:
    """Check ``metric`` against ``task`` (``None`` = the task's default) and give its direction."""
    if task not in _METRICS:
        raise ConfigError(f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")
    known = _METRICS[task]
    name = known.get(metric or _DEFAULT[task])
    if name is None:
        raise ConfigError(f"metric {metric!r} does not fit task {task!r}",
                          hint=f"use one of {', '.join(sorted(known))}")
    return MetricChoice(name, "maximize" if name in _HIGHER_IS_BETTER else "minimize")


def evaluate(y_true: np.ndarray, y_score: np.ndarray, task: str) -> dict[str, float]:
    """Score predictions: binary ``y_score`` is P(class 1); multiclass is an (n, k) probability
    matrix with classes coded 0..k-1; regression is the predicted value."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if len(y_true) == 0 or len(y_true) != len(y_score):
        raise TrainingError(f"cannot evaluate {len(y_score)} predictions against {len(y_true)} labels",
                            hint="pass one prediction per labelled row, and at least one row")
    if task == "binary":
        return _binary(y_true.astype(np.int64), y_score)
    if task == "multiclass":
        if y_score.ndim != 2:
            raise TrainingError(f"multiclass scores have shape {y_score.shape}",
                                hint="pass an (n_rows, n_classes) probability matrix")
        labels = np.arange(y_score.shape[1])
        return {"logloss": float(skm.log_loss(y_true, y_score, labels=labels)),
                "accuracy": float(skm.accuracy_score(y_true, y_score.argmax(axis=1)))}
    if task == "regression":
        return {"rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_score))),
                "mae": float(skm.mean_absolute_error(y_true, y_score)),
                "r2": float(skm.r2_score(y_true, y_score)) if len(y_true) > 1 else float("nan")}
    raise ConfigError(f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")


def _binary(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": roc_auc(y_true, p), "logloss": binary_logloss(y_true, p), "brier": brier(y_true, p),
            "accuracy": accuracy(y_true, p), "positive_rate": float(np.mean(p >= 0.5))}


def _positives(y_true: np.ndarray) -> np.ndarray:
    y = np.asarray(y_true)
    positives = y == 1
    if not (positives | (y == 0)).all():
        raise InputError(f"binary labels must be 0 or 1; found {np.unique(y[~(positives | (y == 0))])[:5]}",
                         hint="code the positive class as 1 and the negative as 0")
    return positives


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float | np.ndarray:
    """ROC AUC of ``scores`` against 0/1 labels along the last axis; a float for 1-d input.

    AUC is undefined when the labels hold one class only; NaN says so without failing a report.
    """
    positives = _positives(y_true)
    ranks = rankdata(np.asarray(scores, dtype=np.float64), axis=-1)
    n_pos = positives.sum(axis=-1)
    n_neg = positives.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (np.where(positives, ranks, 0.0).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc = np.where((n_pos == 0) | (n_neg == 0), np.nan, auc)
    return float(auc) if auc.ndim == 0 else auc


def binary_logloss(y_true: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of 0/1 labels, probabilities clipped to [1e-15, 1 - 1e-15]."""
    positives = _positives(y_true)
    p = np.clip(np.asarray(p, dtype=np.float64), LOGLOSS_CLIP, 1 - LOGLOSS_CLIP)
    return float(-np.mean(np.where(positives, np.log(p), np.log1p(-p))))


def brier(y_true: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between P(class 1) and the 0/1 label."""
    return float(np.mean((np.asarray(p, dtype=np.float64) - _positives(y_true)) ** 2))


def accuracy(y_true: np.ndarray, p: np.ndarray) -> float:
    """Share of rows whose label equals ``p >= 0.5``."""
    return float(np.mean((np.asarray(p, dtype=np.float64) >= 0.5) == _positives(y_true)))


def expected_calibration_error(y_true: np.ndarray, scores: np.ndarray, n_bins: int = 10) -> float:
    """Weighted mean |observed rate - mean score| over equal-width score bins on [0, 1]."""
    y, s = np.asarray(y_true, float), np.clip(np.asarray(scores, float), 0.0, 1.0)
    bins = np.minimum((s * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, y, n_bins) - np.bincount(bins, s, n_bins))
    return float(gap.sum() / counts.sum())


# Binary metric name -> (function of (y_true, P(class 1)), higher is better); read-only by construction.
BINARY_METRICS: Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]] = MappingProxyType({
    "auc": (roc_auc, True), "logloss": (binary_logloss, False), "brier": (brier, False), "accuracy": (accuracy, True),
})
