"""Gate policies of one task each: binary at a threshold, multiclass recall, regression baselines.

``ThresholdChecks`` reports precision, recall, F1 and the positive rate of a binary model at the
decision threshold in the :class:`Evidence`; with no bound set it is informational (it passes and
says so, even without a threshold, because it decides nothing), with a bound it fails closed.
``ClassRecallFloor`` makes one check per class, so a report names the class a multiclass model
neglects. ``BaselineBound`` holds a regression metric to a ratio of the naive baseline's (the
training labels' mean or median, predicted for every holdout row), so "better than a constant" is
checked in any label unit. ``ResidualBySlice`` bounds the mean residual of each segment relative to
the overall RMSE: a model that is right on average but biased for one segment is caught.
``SignificantGain`` is the paired bootstrap of :mod:`governance.gate_stats` on per-row losses, for
the metrics DeLong does not cover. All fail closed on missing evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from driftline.errors import ConfigError, InputError
from governance.evidence import Evidence, bounds_text, missing_evidence, no_champion
from governance.gate_report import CheckResult
from governance.gate_stats import bootstrap_mean_difference
from training.metrics import at_threshold, mae, multi_loss_rows, per_class_recall, rmse


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


@dataclass(frozen=True)
class ThresholdChecks:
    min_precision: float | None = None
    min_recall: float | None = None
    min_f1: float | None = None
    min_positive_rate: float | None = None
    max_positive_rate: float | None = None
    name: str = "at threshold"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        bounds = {"precision": (self.min_precision, None), "recall": (self.min_recall, None),
                  "f1": (self.min_f1, None), "positive_rate": (self.min_positive_rate, self.max_positive_rate)}
        if evidence.task != "binary":
            return missing_evidence(self.name, "binary evidence", f"a binary task, not {evidence.task}")
        y, scores, threshold = evidence.y_true, evidence.candidate_scores, evidence.threshold
        out = []
        for metric, (low, high) in bounds.items():
            name, bounded = f"{metric} {self.name}", low is not None or high is not None
            expected = bounds_text(low, high) if bounded else "informational (no bound set)"
            if y is None or scores is None or threshold is None:
                out.append(missing_evidence(name, expected, "decision threshold, y_true and candidate scores")[0]
                           if bounded else CheckResult(name, True, None, expected, "no decision threshold in "
                                                       "the evidence; nothing is bounded, so nothing is decided"))
                continue
            value = getattr(at_threshold(y, scores, threshold), metric)
            ok = _within(value, low, high)
            out.append(CheckResult(name, ok, value, expected, f"threshold {threshold:.6g}; "
                                   + ("within bounds" if ok else "outside the bound")))
        return tuple(out)


@dataclass(frozen=True)
class ClassRecallFloor:
    min_recall: float
    name: str = "class recall"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = f">= {self.min_recall} for every class"
        if evidence.task != "multiclass" or evidence.y_true is None or evidence.candidate_scores is None:
            return missing_evidence(self.name, expected, "multiclass y_true and probability matrix")
        recalls = per_class_recall(evidence.y_true, evidence.candidate_scores)
        return tuple(
            CheckResult(f"{self.name}={k}", bool(np.isfinite(r) and r >= self.min_recall),
                        float(r), expected, "class absent from the holdout: recall undefined (fails closed)"
                        if not np.isfinite(r) else ("above the floor" if r >= self.min_recall else "below the floor"))
            for k, r in enumerate(recalls))


_REGRESSION = {"rmse": rmse, "mae": mae}


@dataclass(frozen=True)
class BaselineBound:
    metric: str
    max_ratio: float

    def __post_init__(self) -> None:
        if self.metric not in _REGRESSION or not self.max_ratio > 0:
            raise ConfigError(f"BaselineBound({self.metric!r}, {self.max_ratio}) needs rmse|mae and a ratio > 0")

    @property
    def name(self) -> str:
        return f"{self.metric} vs naive baseline"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = f"<= {self.max_ratio} x the baseline's {self.metric}"
        if evidence.y_true is None or evidence.candidate_scores is None or evidence.baseline is None:
            return missing_evidence(self.name, expected, "y_true, candidate predictions and the naive baseline")
        fn = _REGRESSION[self.metric]
        cand = fn(evidence.y_true, evidence.candidate_scores)
        base = fn(evidence.y_true, np.full(len(evidence.y_true), evidence.baseline))
        ratio = cand / base if base > 0 else (0.0 if cand == 0 else float("inf"))
        ok = bool(ratio <= self.max_ratio)
        return (CheckResult(self.name, ok, ratio, expected,
                            f"{self.metric} {cand:.6g} vs baseline {base:.6g} (predicting {evidence.baseline:.6g})"
                            + ("" if ok else "; no better than a constant")),)


@dataclass(frozen=True)
class ResidualBySlice:
    column: str
    max_bias: float

    def __post_init__(self) -> None:
        if not self.max_bias > 0:
            raise ConfigError(f"ResidualBySlice max_bias {self.max_bias} must be > 0")

    @property
    def name(self) -> str:
        return f"residual by {self.column}"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = f"|mean residual| <= {self.max_bias} x overall RMSE"
        if evidence.y_true is None or evidence.candidate_scores is None:
            return missing_evidence(self.name, expected, "y_true and candidate predictions")
        if not evidence.segments or self.column not in evidence.segments:
            return missing_evidence(self.name, expected, f"segment column {self.column!r}")
        y, v = np.asarray(evidence.y_true, float), np.asarray(evidence.candidate_scores, float)
        limit = self.max_bias * rmse(y, v)
        labels = np.asarray(evidence.segments[self.column])
        out = []
        for label in np.unique(labels):
            bias = float(np.mean(v[labels == label] - y[labels == label]))
            ok = abs(bias) <= limit + 1e-12
            out.append(CheckResult(f"{self.name}={label}", ok, bias, expected,
                                   f"limit {limit:.6g}; " + ("unbiased enough" if ok else "biased on this slice")))
        return tuple(out)


# (task, metric) -> (per-row values of (y, scores), transform of their mean, higher is better).
_Rows = Callable[[np.ndarray, np.ndarray], np.ndarray]
_ROWS: dict[tuple[str, str], tuple[_Rows, Callable[[np.ndarray], np.ndarray], bool]] = {
    ("multiclass", "logloss"): (multi_loss_rows, np.asarray, False),
    ("multiclass", "accuracy"): (lambda y, P: (np.asarray(P).argmax(axis=1) == y).astype(float), np.asarray, True),
    ("regression", "rmse"): (lambda y, v: (np.asarray(v, float) - y) ** 2, np.sqrt, False),
    ("regression", "mae"): (lambda y, v: np.abs(np.asarray(v, float) - y), np.asarray, False),
}


@dataclass(frozen=True)
class SignificantGain:
    task: str
    metric: str
    alpha: float = 0.05
    n_boot: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.task, self.metric) not in _ROWS or not 0 < self.alpha < 1 or self.n_boot < 100:
            raise ConfigError(f"SignificantGain({self.task!r}, {self.metric!r}, alpha={self.alpha}, "
                              f"n_boot={self.n_boot}) is not supported",
                              hint=f"use one of {sorted(_ROWS)}, 0 < alpha < 1, n_boot >= 100; binary AUC: "
                                   "SignificantImprovement (DeLong)")

    @property
    def name(self) -> str:
        return f"significant {self.metric} improvement (paired bootstrap)"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = f"one-sided p < {self.alpha}"
        if not evidence.has_champion:
            return no_champion(self.name, expected)
        if (evidence.task != self.task or evidence.y_true is None or evidence.candidate_scores is None
                or evidence.champion_scores is None):
            return missing_evidence(self.name, expected, f"{self.task} y_true with candidate and champion scores")
        rows, transform, higher = _ROWS[(self.task, self.metric)]
        y = np.asarray(evidence.y_true)
        try:
            cmp = bootstrap_mean_difference(self.metric, rows(y, evidence.candidate_scores),
                                            rows(y, evidence.champion_scores), higher_is_better=higher,
                                            transform=transform, n_boot=self.n_boot, seed=self.seed,
                                            alpha=self.alpha)
        except InputError as exc:
            return (CheckResult(self.name, False, None, expected, f"cannot test: {exc.message}"),)
        ok = cmp.p_value < self.alpha
        return (CheckResult(self.name, ok, cmp.p_value, expected,
                            f"{self.metric} {cmp.candidate:.6g} vs {cmp.champion:.6g}, improvement "
                            f"{cmp.improvement:+.6g}, {100 * (1 - self.alpha):g}% CI "
                            f"[{cmp.ci_low:+.6g}, {cmp.ci_high:+.6g}]"),)
