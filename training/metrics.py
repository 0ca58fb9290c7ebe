"""Scores of a model on labelled data, and the LightGBM validation metrics a search may optimise.

This is the one home of driftline's metrics: the gate's policies (:mod:`governance.evidence`,
:mod:`governance.gate_stats`), the drift monitor's performance (:mod:`monitoring.performance`) and
the training run all call the functions here. The binary metrics are plain numpy: :func:`roc_auc`
is the Mann–Whitney U over midranks (ties get half credit), vectorised over leading axes so that a
bootstrap ranks its resamples in one pass, and tests hold every binary metric equal to
scikit-learn's to 1e-12 on random data with ties. :func:`evaluate` gives the evaluation gate and
the reports one fixed set of numbers per task; the multiclass metrics (multi log loss, accuracy,
macro-F1, per-class recall) take an (n, k) probability matrix with classes coded 0..k-1, the
regression metrics (RMSE, MAE) the predicted values, and :func:`naive_baseline` is the constant a
model must beat (the training labels' mean or median). A binary decision threshold is chosen on
validation data by :func:`choose_threshold` (maximise F1 by default; ties go to the highest
threshold, the most conservative cut) and :func:`at_threshold` gives precision, recall, F1 and the
positive rate at it. :func:`resolve_metric`
maps a user's metric name (or the task's default) to LightGBM's own name and to the direction of
the search, refusing names that do not fit the task before any trial runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, cast

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
        return {"logloss": multi_logloss(y_true, y_score), "accuracy": multi_accuracy(y_true, y_score),
                "macro_f1": macro_f1(y_true, y_score)}
    if task == "regression":
        return {"rmse": rmse(y_true, y_score), "mae": mae(y_true, y_score),
                "r2": float(skm.r2_score(y_true, y_score)) if len(y_true) > 1 else float("nan")}
    raise ConfigError(f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")


def _binary(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": float(roc_auc(y_true, p)), "logloss": binary_logloss(y_true, p), "brier": brier(y_true, p),
            "accuracy": accuracy(y_true, p), "positive_rate": float(np.mean(p >= 0.5))}


def _positives(y_true: np.ndarray) -> np.ndarray:
    y = np.asarray(y_true)
    positives: np.ndarray = y == 1
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
    # One vector of labels in, a float out (roc_auc's batched form is for the gate's bootstrap).
    "auc": (cast(Callable[[np.ndarray, np.ndarray], float], roc_auc), True), "logloss": (binary_logloss, False),
    "brier": (brier, False), "accuracy": (accuracy, True),
})


# --- binary at a decision threshold ----------------------------------------------------------

@dataclass(frozen=True)
class ThresholdMetrics:
    """Precision, recall, F1 and positive rate of ``p >= threshold``; 0.0 where a ratio is 0/0,
    as scikit-learn's ``zero_division=0``."""

    threshold: float
    precision: float
    recall: float
    f1: float
    positive_rate: float


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def at_threshold(y_true: np.ndarray, p: np.ndarray, threshold: float) -> ThresholdMetrics:
    """Binary metrics of the decision ``p >= threshold`` against 0/1 labels."""
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"decision threshold {threshold} is not in [0, 1]",
                         hint="choose it with choose_threshold on validation data")
    positives = _positives(y_true)
    predicted = np.asarray(p, dtype=np.float64) >= threshold
    tp, n_pred, n_pos = float(np.sum(predicted & positives)), float(predicted.sum()), float(positives.sum())
    precision, recall = float(_ratio(tp, n_pred)), float(_ratio(tp, n_pos))
    f1 = float(_ratio(2 * tp, n_pred + n_pos))
    return ThresholdMetrics(float(threshold), precision, recall, f1, float(predicted.mean()))


THRESHOLD_OBJECTIVES = ("f1",)


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray, objective: str = "f1") -> float:
    """The threshold among the validation scores that maximises ``objective`` (F1) of
    ``p >= threshold``; ties go to the highest such threshold (fewest positives). Choose it on
    validation data, never on the holdout the gate judges, or the gate's F1 is optimistic."""
    if objective not in THRESHOLD_OBJECTIVES:
        raise ConfigError(f"unknown threshold objective {objective!r}",
                          hint=f"use one of {', '.join(THRESHOLD_OBJECTIVES)}")
    positives = _positives(y_val)
    p = np.asarray(p_val, dtype=np.float64)
    if p.shape != positives.shape or p.size == 0 or not np.isfinite(p).all():
        raise InputError(f"{p.size} validation scores (finite?) against {positives.size} labels",
                         hint="pass one finite P(class 1) per validation row")
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], positives[order]
    tp = np.cumsum(ys)
    last = np.r_[ps[1:] != ps[:-1], True]  # cut after each run of equal scores
    n_pred = np.arange(1, p.size + 1)
    f1 = _ratio(2 * tp, n_pred + positives.sum())[last]
    cuts = ps[last]
    best = np.flatnonzero(f1 == f1.max())[0]  # scores descend: the first best is the highest cut
    return float(cuts[best])


# --- multiclass ------------------------------------------------------------------------------

def _classes(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, P = np.asarray(y_true), np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != y.shape[0] or P.shape[1] < 2:
        raise InputError(f"multiclass probabilities of shape {P.shape} for {y.shape[0]} labels",
                         hint="pass an (n_rows, n_classes) probability matrix, n_classes >= 2")
    if not np.issubdtype(y.dtype, np.integer) or y.min(initial=0) < 0 or y.max(initial=0) >= P.shape[1]:
        raise InputError(f"multiclass labels must be integers 0..{P.shape[1] - 1}",
                         hint="code the classes 0..k-1 in the order of the probability columns")
    return y.astype(np.int64), P


def multi_loss_rows(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-row negative log-likelihood, rows renormalised and clipped as scikit-learn does."""
    y, P = _classes(y_true, proba)
    P = np.clip(P / P.sum(axis=1, keepdims=True), LOGLOSS_CLIP, 1 - LOGLOSS_CLIP)
    rows: np.ndarray = -np.log(P[np.arange(y.size), y])
    return rows


def multi_logloss(y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(multi_loss_rows(y_true, proba)))


def multi_accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    y, P = _classes(y_true, proba)
    return float(np.mean(P.argmax(axis=1) == y))


def per_class_recall(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Recall of each class 0..k-1 (argmax decision); NaN for a class absent from ``y_true``."""
    y, P = _classes(y_true, proba)
    k, hit = P.shape[1], P.argmax(axis=1) == y
    support = np.bincount(y, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.bincount(y, hit, minlength=k) / support, np.nan)


def macro_f1(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Unweighted mean F1 over the classes present in labels or predictions (scikit-learn's
    ``f1_score(average="macro")``, a class never seen nor predicted left out, 0/0 counted 0)."""
    y, P = _classes(y_true, proba)
    k, pred = P.shape[1], P.argmax(axis=1)
    tp = np.bincount(y[pred == y], minlength=k).astype(float)
    n_true, n_pred = np.bincount(y, minlength=k), np.bincount(pred, minlength=k)
    present = (n_true + n_pred) > 0
    return float(np.mean(_ratio(2 * tp, n_true + n_pred)[present]))


# --- regression ------------------------------------------------------------------------------

def _values(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y.ndim != 1 or v.shape != y.shape or y.size == 0 or not (np.isfinite(y).all() and np.isfinite(v).all()):
        raise InputError(f"regression predictions of shape {v.shape} for labels of shape {y.shape}",
                         hint="pass one finite predicted value per finite label, at least one row")
    return y, v


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y, v = _values(y_true, y_pred)
    return float(np.sqrt(np.mean((v - y) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y, v = _values(y_true, y_pred)
    return float(np.mean(np.abs(v - y)))


BASELINES = ("mean", "median")


def naive_baseline(y_train: np.ndarray, kind: str = "mean") -> float:
    """The constant prediction a regression model must beat: the training labels' mean (the best
    constant for RMSE) or median (the best for MAE)."""
    if kind not in BASELINES:
        raise ConfigError(f"unknown naive baseline {kind!r}", hint=f"use one of {', '.join(BASELINES)}")
    y = np.asarray(y_train, dtype=np.float64)
    if y.size == 0 or not np.isfinite(y).all():
        raise InputError("a naive baseline needs at least one finite training label")
    return float(np.mean(y) if kind == "mean" else np.median(y))


# Metric name -> (function of (y_true, predictions), higher is better), per task.
MULTICLASS_METRICS: Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]] = MappingProxyType({
    "logloss": (multi_logloss, False), "accuracy": (multi_accuracy, True), "macro_f1": (macro_f1, True),
})
REGRESSION_METRICS: Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]] = MappingProxyType({
    "rmse": (rmse, False), "mae": (mae, False),
})
TASK_METRICS: Mapping[str, Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]]] = (
    MappingProxyType({"binary": BINARY_METRICS, "multiclass": MULTICLASS_METRICS,
                      "regression": REGRESSION_METRICS}))
