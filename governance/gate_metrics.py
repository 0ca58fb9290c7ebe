"""Gate policies computed from holdout scores: significance, slices and calibration.

These policies need ``y_true`` and aligned scores in the :class:`Evidence`. ``SignificantImprovement``
asks whether the candidate's AUC beats the champion's beyond chance (paired bootstrap or DeLong, see
:mod:`governance.gate_stats`); ``SliceBound`` and ``SliceNoWorse`` make one check per segment value,
so a report names the slice that failed; ``Calibration`` bounds the Brier score and the expected
calibration error. A metric that is undefined on a slice (AUC on one class) fails closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from driftline.errors import ConfigError, InputError
from governance.evidence import (Evidence, bounds_text, metric_fn, missing_evidence,
                                 no_champion)
from governance.gate_report import CheckResult
from governance.gate_stats import bootstrap_auc_difference, delong_auc_difference
from training.metrics import expected_calibration_error


@dataclass(frozen=True)
class SignificantImprovement:
    metric: str = "auc"
    method: Literal["bootstrap", "delong"] = "bootstrap"
    alpha: float = 0.05
    n_boot: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.metric != "auc" or self.method not in ("bootstrap", "delong") or not 0 < self.alpha < 1:
            raise ConfigError("SignificantImprovement supports metric='auc', method bootstrap|delong, "
                              f"0 < alpha < 1; got {self.metric!r}, {self.method!r}, {self.alpha}")

    @property
    def name(self) -> str:
        return f"significant {self.metric} improvement ({self.method})"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = f"one-sided p < {self.alpha}"
        if not evidence.has_champion:
            return no_champion(self.name, expected)
        if evidence.y_true is None or evidence.candidate_scores is None or evidence.champion_scores is None:
            return missing_evidence(self.name, expected, "y_true with candidate and champion scores")
        try:
            if self.method == "delong":
                cmp = delong_auc_difference(evidence.y_true, evidence.candidate_scores,
                                            evidence.champion_scores, alpha=self.alpha)
            else:
                cmp = bootstrap_auc_difference(evidence.y_true, evidence.candidate_scores,
                                               evidence.champion_scores, n_boot=self.n_boot,
                                               seed=self.seed, alpha=self.alpha)
        except InputError as exc:
            return (CheckResult(self.name, False, None, expected, f"cannot test: {exc.message}"),)
        ok = cmp.p_value < self.alpha
        return (CheckResult(self.name, ok, cmp.p_value, expected,
                            f"AUC {cmp.candidate_auc:.4f} vs {cmp.champion_auc:.4f}, difference "
                            f"{cmp.difference:+.4f}, {100 * (1 - self.alpha):g}% CI "
                            f"[{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}]"),)


def _by_segment(evidence: Evidence, column: str, metric: str,
                scores: np.ndarray | None, task: str = "binary") -> Iterator[tuple[Any, float | None]]:
    """Yield (segment label, metric value or None when undefined on that slice)."""
    if evidence.segments is None or scores is None:  # callers ask _slice_inputs first; fail closed anyway
        raise InputError(f"slice check on {column!r} without segments or scores in the evidence",
                         hint="check the evidence with _slice_inputs before slicing it")
    fn, _ = metric_fn(metric, task)
    labels = np.asarray(evidence.segments[column])
    y = np.asarray(evidence.y_true)
    for value in np.unique(labels):
        rows = labels == value
        defined = metric != "auc" or len(np.unique(y[rows])) == 2
        yield value, (float(fn(y[rows], np.asarray(scores)[rows])) if defined else None)


def _slice_inputs(evidence: Evidence, column: str, *, champion: bool) -> str | None:
    if evidence.y_true is None or evidence.candidate_scores is None:
        return "y_true and candidate scores"
    if champion and evidence.champion_scores is None:
        return "champion scores"
    if not evidence.segments or column not in evidence.segments:
        return f"segment column {column!r}"
    return None


@dataclass(frozen=True)
class SliceBound:
    """An absolute bound on ``metric`` in every segment of ``column``: the default gates give each
    segment the whole holdout's bounds, so a segment far below the floor fails even when there is
    no champion, or when the champion was as bad there. A segment with fewer than ``min_rows`` rows
    (binary: rows of its rarer class) is reported with its value but not judged: an AUC on a handful
    of positives is noise, and rejecting on it would reject at random. ``min_rows=0`` judges all."""

    metric: str
    column: str
    min: float | None = None
    max: float | None = None
    task: str = "binary"
    min_rows: int = 0

    def __post_init__(self) -> None:
        metric_fn(self.metric, self.task)
        if self.min is None and self.max is None:
            raise ConfigError(f"SliceBound({self.metric!r}, {self.column!r}) has neither min nor max")
        if self.min_rows < 0:
            raise ConfigError(f"SliceBound min_rows {self.min_rows} must be >= 0")

    def _rows(self, evidence: Evidence, label: Any) -> int:
        assert evidence.segments is not None and evidence.y_true is not None  # checked by _slice_inputs
        y = np.asarray(evidence.y_true)[np.asarray(evidence.segments[self.column]) == label]
        return int(min(np.sum(y == 1), np.sum(y != 1))) if self.task == "binary" else len(y)

    @property
    def name(self) -> str:
        return f"{self.metric} by {self.column}"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = bounds_text(self.min, self.max)
        if evidence.task != self.task:
            return missing_evidence(self.name, expected, f"{self.task} evidence, not {evidence.task}")
        if (what := _slice_inputs(evidence, self.column, champion=False)) is not None:
            return missing_evidence(self.name, expected, what)
        out = []
        for label, value in _by_segment(evidence, self.column, self.metric, evidence.candidate_scores,
                                        self.task):
            if (rows := self._rows(evidence, label)) < self.min_rows:
                what = "rows of its rarer class" if self.task == "binary" else "rows"
                out.append(CheckResult(f"{self.name}={label}", True, value, expected,
                                       f"not judged: {rows} {what} < min_slice_rows {self.min_rows}, too few "
                                       "to hold to the bound"))
                continue
            ok = value is not None and (self.min is None or value >= self.min) and (
                self.max is None or value <= self.max)
            detail = "undefined on this slice (one class only)" if value is None else (
                "within bounds" if ok else "outside the bound")
            out.append(CheckResult(f"{self.name}={label}", bool(ok), value, expected, detail))
        return tuple(out)


@dataclass(frozen=True)
class SliceNoWorse:
    metric: str
    column: str
    margin: float = 0.0

    def __post_init__(self) -> None:
        metric_fn(self.metric)
        if self.margin < 0:
            raise ConfigError(f"SliceNoWorse margin {self.margin} must be >= 0")

    @property
    def name(self) -> str:
        return f"{self.metric} by {self.column} vs champion"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = f"no slice worse than the champion by more than {self.margin}"
        if not evidence.has_champion:
            return no_champion(self.name, expected)
        if (what := _slice_inputs(evidence, self.column, champion=True)) is not None:
            return missing_evidence(self.name, expected, what)
        higher = metric_fn(self.metric)[1]
        champ = dict(_by_segment(evidence, self.column, self.metric, evidence.champion_scores))
        out = []
        for label, cand in _by_segment(evidence, self.column, self.metric, evidence.candidate_scores):
            base = champ[label]
            if cand is None or base is None:
                out.append(CheckResult(f"{self.name}={label}", False, cand, expected,
                                       "undefined on this slice (one class only)"))
                continue
            drop = (base - cand) if higher else (cand - base)
            ok = drop <= self.margin + 1e-12
            out.append(CheckResult(f"{self.name}={label}", bool(ok), cand, expected,
                                   f"champion {base:.6g}, drop {drop:.6g}"))
        return tuple(out)


@dataclass(frozen=True)
class Calibration:
    max_brier: float | None = None
    max_ece: float | None = None
    n_bins: int = 10

    def __post_init__(self) -> None:
        if self.max_brier is None and self.max_ece is None:
            raise ConfigError("Calibration needs max_brier or max_ece")
        if self.n_bins < 2:
            raise ConfigError(f"Calibration n_bins {self.n_bins} must be >= 2")

    @property
    def name(self) -> str:
        return "calibration"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        wanted = [(n, b) for n, b in (("brier", self.max_brier), ("ece", self.max_ece)) if b is not None]
        if evidence.y_true is None or evidence.candidate_scores is None:
            return tuple(missing_evidence(f"calibration {n}", f"<= {b}", "y_true and candidate scores")[0]
                         for n, b in wanted)
        y, s = np.asarray(evidence.y_true), np.asarray(evidence.candidate_scores)
        out = []
        for metric, bound in wanted:
            value = (metric_fn("brier")[0](y, s) if metric == "brier"
                     else expected_calibration_error(y, s, self.n_bins))
            ok = bool(value <= bound)
            out.append(CheckResult(f"calibration {metric}", ok, float(value), f"<= {bound}",
                                   "well calibrated" if ok else "scores are miscalibrated"))
        return tuple(out)
