"""Scores of a model on labelled data, and the LightGBM validation metrics a search may optimise.

:func:`evaluate` gives the evaluation gate and the reports one fixed set of numbers per task,
computed with scikit-learn so that they agree with what any reviewer recomputes. :func:`resolve_metric`
maps a user's metric name (or the task's default) to LightGBM's own name and to the direction of
the search, refusing names that do not fit the task before any trial runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn import metrics as skm

from driftline.errors import ConfigError, TrainingError

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
    # AUC is undefined when the data hold one class only; NaN says so without failing the report.
    auc = float(skm.roc_auc_score(y_true, p)) if len(np.unique(y_true)) == 2 else float("nan")
    return {"auc": auc,
            "logloss": float(skm.log_loss(y_true, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
            "brier": float(skm.brier_score_loss(y_true, p, pos_label=1)),
            "accuracy": float(skm.accuracy_score(y_true, (p >= 0.5).astype(np.int64))),
            "positive_rate": float(np.mean(p >= 0.5))}
