"""The default evaluation gate of each task, built from :class:`GateSettings`.

``task_policy(task, settings, has_champion=...)`` is what :func:`governance.gates.default_policy`
builds. Every task gets the size, latency and data checks. Binary keeps today's checks (AUC and
log-loss bounds, calibration, the champion's AUC overall and by slice, DeLong when significance is
required) and adds precision, recall, F1 and the positive rate at the decision threshold, which
decide only once a bound is set. Multiclass bounds multi log loss, accuracy and macro-F1, puts a
floor under every class's recall and holds log loss to the champion's. Regression bounds RMSE and
MAE against the naive baseline (and absolutely, when set), checks the residual by slice and holds
RMSE to the champion's. Significance is DeLong for binary AUC, the paired bootstrap otherwise. The
whole holdout's absolute bounds (AUC and log loss; multiclass log loss and accuracy; regression RMSE
and MAE when set) apply again in every segment of ``slice_columns``, champion or not, once the
segment has ``min_slice_rows`` rows (binary: of its rarer class). The
build fails closed: an unknown task, or a regression gate with no RMSE or MAE bound at all, is a
:class:`ConfigError`, never a gate that promotes anything.
"""

from __future__ import annotations

from driftline.errors import ConfigError
from driftline.settings import GateSettings
from governance.evidence import Policy
from governance.gate_metrics import Calibration, SignificantImprovement, SliceBound, SliceNoWorse
from governance.gate_tasks import (BaselineBound, ClassRecallFloor, ResidualBySlice, SignificantGain,
                                   ThresholdChecks)
from governance.gates import (AllOf, LatencyBudget, MaxQuarantineShare, MetricBound, MinTrainingRows,
                              NoWorseThanChampion, SizeBudget)
from training.metrics import TASKS


def _facts(gate: GateSettings) -> list[Policy]:
    return [SizeBudget(gate.max_model_bytes), LatencyBudget(gate.max_latency_ms_per_1k),
            MinTrainingRows(gate.min_training_rows), MaxQuarantineShare(gate.max_quarantine_share)]


def _slices(gate: GateSettings, task: str, bounds: list[MetricBound]) -> list[Policy]:
    """The whole holdout's absolute bounds again in every segment of every slice column."""
    return [SliceBound(b.metric, column, min=b.min, max=b.max, task=task, min_rows=gate.min_slice_rows)
            for column in gate.slice_columns for b in bounds]


def _binary(gate: GateSettings, has_champion: bool) -> list[Policy]:
    absolute = [MetricBound("auc", min=gate.min_auc), MetricBound("logloss", max=gate.max_logloss)]
    policies: list[Policy] = [
        *absolute, *_slices(gate, "binary", absolute),
        Calibration(max_ece=gate.max_ece), *_facts(gate),
        ThresholdChecks(min_precision=gate.min_precision, min_recall=gate.min_recall, min_f1=gate.min_f1,
                        min_positive_rate=gate.min_positive_rate, max_positive_rate=gate.max_positive_rate)]
    if has_champion:
        policies.append(NoWorseThanChampion("auc", max_abs_drop=gate.max_auc_drop))
        policies += [SliceNoWorse("auc", column, margin=gate.max_slice_auc_drop) for column in gate.slice_columns]
        if gate.require_significant_improvement:
            policies.append(SignificantImprovement("auc", method="delong", alpha=gate.significance_alpha))
    return policies


def _multiclass(gate: GateSettings, has_champion: bool) -> list[Policy]:
    absolute = [MetricBound("logloss", max=gate.max_multi_logloss), MetricBound("accuracy", min=gate.min_accuracy)]
    # macro-F1 is left out per segment: a segment lacking a class has no defined macro-F1.
    policies: list[Policy] = [
        *absolute, MetricBound("macro_f1", min=gate.min_macro_f1), *_slices(gate, "multiclass", absolute),
        ClassRecallFloor(gate.min_class_recall), *_facts(gate)]
    if has_champion:
        policies.append(NoWorseThanChampion("logloss", higher_is_better=False, max_abs_drop=gate.max_logloss_increase))
        if gate.require_significant_improvement:
            policies.append(SignificantGain("multiclass", "logloss", alpha=gate.significance_alpha,
                                            n_boot=gate.bootstrap_resamples, seed=gate.bootstrap_seed))
    return policies


def _regression(gate: GateSettings, has_champion: bool) -> list[Policy]:
    absolute = [*([MetricBound("rmse", max=gate.max_rmse)] if gate.max_rmse is not None else []),
                *([MetricBound("mae", max=gate.max_mae)] if gate.max_mae is not None else [])]
    bounds: list[Policy] = [
        *absolute,
        *([BaselineBound("rmse", gate.max_rmse_to_baseline)] if gate.max_rmse_to_baseline is not None else []),
        *([BaselineBound("mae", gate.max_mae_to_baseline)] if gate.max_mae_to_baseline is not None else [])]
    if not bounds:
        raise ConfigError("the regression gate has no RMSE or MAE bound (absolute or relative to the naive "
                          "baseline): it would promote any model",
                          hint="set max_rmse_to_baseline (default 1.0), max_mae_to_baseline, max_rmse or max_mae")
    policies = [*bounds, *_slices(gate, "regression", absolute),
                *(ResidualBySlice(c, gate.max_slice_residual_bias) for c in gate.slice_columns),
                *_facts(gate)]
    if has_champion:
        policies.append(NoWorseThanChampion("rmse", higher_is_better=False, max_rel_drop=gate.max_rmse_increase))
        if gate.require_significant_improvement:
            policies.append(SignificantGain("regression", "rmse", alpha=gate.significance_alpha,
                                            n_boot=gate.bootstrap_resamples, seed=gate.bootstrap_seed))
    return policies


_BUILDERS = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}


def task_policy(task: str, gate: GateSettings, *, has_champion: bool) -> Policy:
    """The default gate of ``task`` under ``gate``; champion checks only once there is a champion."""
    if task not in _BUILDERS:
        raise ConfigError(f"no default gate for task {task!r}", hint=f"use one of {', '.join(TASKS)}")
    return AllOf(*_BUILDERS[task](gate, has_champion))
