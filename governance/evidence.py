"""What an evaluation gate looks at, and the shape every policy has.

:class:`Evidence` gathers holdout metrics, aligned scores and segment labels, and data facts
(training rows, quarantined share, model size, latency); its constructor refuses misaligned
arrays. :class:`Policy` is the Protocol every gate policy meets. The helpers here build the two
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
from training.metrics import BINARY_METRICS

# metric name -> (function of (y_true, scores), higher is better): the one implementation, shared
# with training's evaluate and the drift monitor.
METRICS: Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]] = BINARY_METRICS


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

    def __post_init__(self) -> None:
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
    name: str

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]: ...


def missing_evidence(name: str, expected: str, what: str) -> tuple[CheckResult, ...]:
    return (CheckResult(name, False, None, expected, f"missing evidence: {what} (fails closed)"),)


def no_champion(name: str, expected: str) -> tuple[CheckResult, ...]:
    return (CheckResult(name, True, None, expected, "no champion yet: nothing to compare against"),)


def metric_fn(metric: str) -> tuple[Callable[[np.ndarray, np.ndarray], float], bool]:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}", hint=f"use one of {sorted(METRICS)}")
    return METRICS[metric]


def bounds_text(low: float | None, high: float | None) -> str:
    return " and ".join(t for t in ((f">= {low}" if low is not None else ""),
                                    (f"<= {high}" if high is not None else "")) if t)


