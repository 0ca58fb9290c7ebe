"""What an evaluation gate looks at, and the shape every policy has.

:class:`Evidence` gathers holdout metrics, aligned scores and segment labels, and data facts
(training rows, quarantined share, model size, latency). It names its ``task``: the scores are
P(class 1) for binary (with the decision ``threshold`` chosen on validation data), an (n, k)
probability matrix for multiclass, predicted values for regression (with the naive ``baseline``
constant, the training labels' mean or median). Its constructor refuses misaligned arrays, scores
of the wrong shape for the task, and a threshold or baseline that does not fit the task.
:data:`DECISION_METRICS` names the metric each task's champion comparison decides on.
:class:`Policy` is the Protocol every gate policy meets. The helpers here build the two
outcomes every policy shares: a failed check for missing evidence (policies fail closed) and a
passed check with a stated reason when there is no champion to compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from driftline.errors import ConfigError, InputError
from governance.gate_report import CheckResult
from training.metrics import BINARY_METRICS, TASK_METRICS, TASKS

# metric name -> (function of (y_true, scores), higher is better): the one implementation, shared
# with training's evaluate and the drift monitor. METRICS is the binary table (kept for callers).
METRICS: Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]] = BINARY_METRICS

# The metric a task's gate compares with the champion (the task's training objective by default).
DECISION_METRICS: Mapping[str, str] = {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}


@dataclass(frozen=True, eq=False)
class Evidence:
    """What a gate sees; arrays are aligned row by row with ``y_true``."""

    candidate: Mapping[str, float]
    champion: Mapping[str, float] | None = None
    y_true: np.ndarray | None = None
    candidate_scores: np.ndarray | None = None
    champion_scores: np.ndarray | None = None
    segments: Mapping[str, np.ndarray] | None = None
    training_rows: int | None = None
    quarantine_share: float | None = None
    model_size_bytes: int | None = None
    latency_ms_per_1k: float | None = None
    task: str = "binary"
    threshold: float | None = None
    baseline: float | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"evidence task {self.task!r} is unknown", hint=f"use one of {', '.join(TASKS)}")
        for name in ("candidate_scores", "champion_scores"):
            values = getattr(self, name)
            ndim = 2 if self.task == "multiclass" else 1
            if values is not None and np.ndim(values) != ndim:
                raise InputError(f"evidence {name} has shape {np.shape(values)}, not {ndim}-d as {self.task} "
                                 "needs", hint="pass P(class 1) for binary, an (n, k) probability matrix "
                                 "for multiclass, predicted values for regression")
        if self.threshold is not None and (self.task != "binary" or not 0 <= self.threshold <= 1):
            raise InputError(f"decision threshold {self.threshold} does not fit a {self.task} task",
                             hint="only binary evidence carries a threshold, in [0, 1]")
        if self.baseline is not None and (self.task != "regression" or not np.isfinite(self.baseline)):
            raise InputError(f"naive baseline {self.baseline} does not fit a {self.task} task",
                             hint="only regression evidence carries a finite baseline prediction")
        n = None if self.y_true is None else len(self.y_true)
        arrays = {"candidate_scores": self.candidate_scores, "champion_scores": self.champion_scores,
                  **{f"segments[{k}]": v for k, v in (self.segments or {}).items()}}
        for name, values in arrays.items():
            if values is not None and (n is None or len(values) != n):
                raise InputError(f"evidence {name} has {len(values)} rows but y_true has {n}",
                                 hint="align scores and segments with the holdout labels")
        if self.quarantine_share is not None and not 0 <= self.quarantine_share <= 1:
            raise InputError(f"quarantine_share {self.quarantine_share} is not a share in [0, 1]")

    @property
    def has_champion(self) -> bool:
        return self.champion is not None or self.champion_scores is not None


class Policy(Protocol):
    # Read-only: the policies are frozen dataclasses, so a settable member would match none of them.
    @property
    def name(self) -> str: ...

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]: ...


def missing_evidence(name: str, expected: str, what: str) -> tuple[CheckResult, ...]:
    return (CheckResult(name, False, None, expected, f"missing evidence: {what} (fails closed)"),)


def no_champion(name: str, expected: str) -> tuple[CheckResult, ...]:
    return (CheckResult(name, True, None, expected, "no champion yet: nothing to compare against"),)


def metric_fn(metric: str, task: str = "binary") -> tuple[Callable[[np.ndarray, np.ndarray], float], bool]:
    known = TASK_METRICS.get(task, {})
    if metric not in known:
        raise ConfigError(f"unknown {task} metric {metric!r}", hint=f"use one of {sorted(known)}")
    return known[metric]


def bounds_text(low: float | None, high: float | None) -> str:
    return " and ".join(t for t in ((f">= {low}" if low is not None else ""),
                                    (f"<= {high}" if high is not None else "")) if t)


