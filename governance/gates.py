"""Evaluation gates: policies that decide whether a candidate model may be promoted.

A policy looks at :class:`Evidence` (holdout metrics, scores, segments, data facts) and returns
:class:`CheckResult` values; :func:`evaluate_gate` folds them into a :class:`GateReport`. Policies
fail closed: missing evidence is a failed check, never a skipped one, and an empty ``AllOf`` or
``AnyOf`` cannot even be built (a :class:`ConfigError` at construction, as sigstore-python's
policies refuse to be empty) — and should a policy still yield no checks, the report rejects.
``AllOf`` passes when every child passes; ``AnyOf`` passes when at least one does and reports
itself as one check whose detail lists every alternative. Checks that compare with a champion pass
with a stated reason when there is no champion yet, since a first model has nothing to beat. This
module holds the metric-bound, data and budget policies and the composition; the score-based
policies live in :mod:`governance.gate_metrics`, the task-specific ones (threshold, class recall,
naive baseline, residual by slice, paired-bootstrap significance) in :mod:`governance.gate_tasks`,
and the default gate of each task in :mod:`governance.gate_defaults`; all are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from driftline.errors import ConfigError
from driftline.clock import format_time, utc_now
from driftline.settings import GateSettings
from governance.evidence import DECISION_METRICS, METRICS, Evidence, Policy, bounds_text, missing_evidence, no_champion
from governance.gate_metrics import Calibration, SignificantImprovement, SliceBound, SliceNoWorse
from governance.gate_report import CheckResult, GateReport
from governance.gate_tasks import (BaselineBound, ClassRecallFloor, ResidualBySlice, SignificantGain,
                                   ThresholdChecks)
from training.metrics import expected_calibration_error

__all__ = ["DECISION_METRICS", "METRICS", "AllOf", "AnyOf", "BaselineBound", "Calibration",
           "ClassRecallFloor", "CheckResult", "Evidence", "GateReport", "LatencyBudget",
           "MaxQuarantineShare", "MetricBound", "MinTrainingRows", "NoWorseThanChampion", "Policy",
           "ResidualBySlice", "SignificantGain", "SignificantImprovement", "SizeBudget", "SliceBound",
           "SliceNoWorse", "ThresholdChecks", "default_policy", "evaluate_gate",
           "expected_calibration_error"]


@dataclass(frozen=True)
class MetricBound:
    metric: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ConfigError(f"MetricBound({self.metric!r}) has neither min nor max")

    @property
    def name(self) -> str:
        return f"{self.metric} bound"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        expected = bounds_text(self.min, self.max)
        value = evidence.candidate.get(self.metric)
        if value is None:
            return missing_evidence(self.name, expected, f"candidate metric {self.metric!r}")
        ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        return (CheckResult(self.name, bool(ok), float(value), expected,
                            "within bounds" if ok else "outside the absolute bound"),)


@dataclass(frozen=True)
class NoWorseThanChampion:
    """Allowed drop is the more lenient of ``max_abs_drop`` and ``max_rel_drop * |champion|``."""

    metric: str
    higher_is_better: bool = True
    max_abs_drop: float = 0.0
    max_rel_drop: float | None = None

    def __post_init__(self) -> None:
        if self.max_abs_drop < 0 or (self.max_rel_drop is not None and self.max_rel_drop < 0):
            raise ConfigError("NoWorseThanChampion drops must be >= 0")

    @property
    def name(self) -> str:
        return f"{self.metric} vs champion"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        if evidence.champion is None:
            return no_champion(self.name, f"drop <= {self.max_abs_drop}")
        cand, champ = evidence.candidate.get(self.metric), evidence.champion.get(self.metric)
        if cand is None or champ is None:
            return missing_evidence(self.name, "both metrics", f"{self.metric!r} of candidate and champion")
        allowed = max(self.max_abs_drop, (self.max_rel_drop or 0.0) * abs(champ))
        drop = (champ - cand) if self.higher_is_better else (cand - champ)
        ok = drop <= allowed + 1e-12  # float noise must not reject an equal model
        return (CheckResult(self.name, bool(ok), float(cand), f"drop <= {allowed:.6g} from champion {champ:.6g}",
                            f"drop {drop:.6g}" + ("" if ok else " exceeds the allowed drop")),)


def _fact_check(name: str, value: float | None, limit: float, *, at_most: bool, what: str,
                ) -> tuple[CheckResult, ...]:
    expected = f"<= {limit}" if at_most else f">= {limit}"
    if value is None:
        return missing_evidence(name, expected, what)
    ok = value <= limit if at_most else value >= limit
    return (CheckResult(name, bool(ok), value, expected, "within budget" if ok else f"{what} out of bounds"),)


@dataclass(frozen=True)
class SizeBudget:
    max_bytes: int
    name: str = "model size"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        return _fact_check(self.name, evidence.model_size_bytes, self.max_bytes, at_most=True,
                           what="model size in bytes")


@dataclass(frozen=True)
class LatencyBudget:
    max_ms_per_1k: float
    name: str = "scoring latency"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        return _fact_check(self.name, evidence.latency_ms_per_1k, self.max_ms_per_1k, at_most=True,
                           what="milliseconds per 1,000 rows")


@dataclass(frozen=True)
class MinTrainingRows:
    n: int
    name: str = "training rows"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        return _fact_check(self.name, evidence.training_rows, self.n, at_most=False, what="training rows")


@dataclass(frozen=True)
class MaxQuarantineShare:
    share: float
    name: str = "quarantine share"

    def __post_init__(self) -> None:
        if not 0 <= self.share <= 1:
            raise ConfigError(f"MaxQuarantineShare({self.share}) is not a share in [0, 1]")

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        return _fact_check(self.name, evidence.quarantine_share, self.share, at_most=True,
                           what="share of input rows quarantined")


class AllOf:
    """Passes when every child passes; its checks are all the children's checks."""

    def __init__(self, *policies: Policy) -> None:
        if not policies:
            raise ConfigError("AllOf() with no policies would promote anything",
                              hint="give at least one policy; empty compositions fail closed")
        self.policies = tuple(policies)
        self.name = "all_of(" + ", ".join(p.name for p in self.policies) + ")"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        return tuple(check for policy in self.policies for check in policy.evaluate(evidence))


class AnyOf:
    """Passes when at least one child passes all its checks; reports as a single check."""

    def __init__(self, *policies: Policy) -> None:
        if not policies:
            raise ConfigError("AnyOf() with no policies has no way to pass",
                              hint="give at least one policy; empty compositions fail closed")
        self.policies = tuple(policies)
        self.name = "any_of(" + ", ".join(p.name for p in self.policies) + ")"

    def evaluate(self, evidence: Evidence) -> tuple[CheckResult, ...]:
        outcomes = [(policy, policy.evaluate(evidence)) for policy in self.policies]
        passed = [bool(checks) and all(c.passed for c in checks) for _, checks in outcomes]
        detail = "; ".join(
            f"{policy.name}: " + ("passed" if ok else " / ".join(c.reason() for c in checks if not c.passed)
                                  or "no checks")
            for (policy, checks), ok in zip(outcomes, passed, strict=True))
        return (CheckResult(self.name, any(passed), tuple(passed),
                            "at least one alternative passes", detail),)


def default_policy(task: str | GateSettings, settings: GateSettings | None = None, *,
                   has_champion: bool) -> Policy:
    """The default gate of ``task`` (binary, multiclass, regression) under ``settings``; see
    :mod:`governance.gate_defaults`. The older call ``default_policy(settings, has_champion=...)``
    still means the binary gate. Unknown tasks and empty gates raise :class:`ConfigError`."""
    from governance.gate_defaults import task_policy  # it builds on this module's policies

    if isinstance(task, GateSettings):
        settings, task = task, "binary"
    if settings is None:
        raise ConfigError("default_policy needs the gate settings", hint="pass Settings().gate")
    return task_policy(task, settings, has_champion=has_champion)


def evaluate_gate(policy: Policy, evidence: Evidence, *, candidate: str, champion: str | None,
                  now: datetime | None = None, decision_metric: str | None = None) -> GateReport:
    """Run ``policy`` on ``evidence``; a rejection is a report, never an exception. The report names
    the evidence's task and the metric the champion comparison decides on (the task's default)."""
    checks = tuple(policy.evaluate(evidence))
    passed = bool(checks) and all(check.passed for check in checks)
    return GateReport(passed=passed, verdict="promote" if passed else "reject", checks=checks,
                      policy=policy.name, candidate=candidate, champion=champion,
                      created_at=format_time(now or utc_now()), task=evidence.task,
                      decision_metric=decision_metric or DECISION_METRICS[evidence.task])
