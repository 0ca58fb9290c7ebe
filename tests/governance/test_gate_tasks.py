"""The default gate of every task on small arrays: pass, fail, and missing evidence failing closed."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.errors import ConfigError, InputError
from driftline.settings import GateSettings
from governance.gate_report import GateReport
from governance.gate_stats import bootstrap_mean_difference
from governance.gates import (BaselineBound, ClassRecallFloor, Evidence, ResidualBySlice, SignificantGain,
                              ThresholdChecks, default_policy, evaluate_gate)
from training.metrics import evaluate

FACTS = dict(training_rows=1000, quarantine_share=0.0, model_size_bytes=10_000, latency_ms_per_1k=2.0)
RNG = np.random.default_rng(7)

# Multiclass: 60 rows, 3 classes; a good model puts 0.8 on the true class, a weak one guesses.
YM = np.repeat([0, 1, 2], 20)
GOOD = np.full((60, 3), 0.1)
GOOD[np.arange(60), YM] = 0.8
BLIND = np.tile([0.5, 0.3, 0.2], (60, 1))  # always says class 0: class 1 and 2 recall 0

# Regression: labels around 100 with a segment; a good model tracks them, a biased one is off on "b".
YR = RNG.normal(100, 10, 80)
SEG = np.array(["a", "b"] * 40)
CLOSE = YR + RNG.normal(0, 1, 80)
BIASED = CLOSE + np.where(SEG == "b", 6.0, -6.0)


def mc(scores, champion=None, **kw) -> Evidence:
    return Evidence(task="multiclass", candidate=evaluate(YM, scores, "multiclass"), y_true=YM,
                    candidate_scores=scores, champion_scores=champion,
                    champion=evaluate(YM, champion, "multiclass") if champion is not None else None, **{**FACTS, **kw})


def reg(pred, champion=None, **kw) -> Evidence:
    base = dict(task="regression", candidate=evaluate(YR, pred, "regression"), y_true=YR, candidate_scores=pred,
                champion_scores=champion, baseline=float(np.mean(YR)), segments={"seg": SEG},
                champion=evaluate(YR, champion, "regression") if champion is not None else None, **FACTS)
    return Evidence(**{**base, **kw})


def gate(task: str, evidence: Evidence, champion: str | None = None, **settings) -> GateReport:
    policy = default_policy(task, GateSettings(**settings), has_champion=champion is not None)
    return evaluate_gate(policy, evidence, candidate="m/2", champion=champion)


def test_multiclass_gate_passes_a_good_model_and_names_task_and_metric() -> None:
    report = gate("multiclass", mc(GOOD))
    assert report.verdict == "promote", report.reasons()
    assert (report.task, report.decision_metric) == ("multiclass", "logloss")
    assert GateReport.from_json(report.to_json()) == report


def test_multiclass_gate_names_the_neglected_classes() -> None:
    report = gate("multiclass", mc(BLIND))
    failed = {c.name for c in report.checks if not c.passed}
    assert {"class recall=1", "class recall=2", "accuracy bound", "macro_f1 bound"} <= failed
    assert "class recall=0" not in failed


def test_multiclass_champion_comparison_and_bootstrap_significance() -> None:
    worse = gate("multiclass", mc(BLIND, champion=GOOD), champion="m/1")
    assert any(c.name == "logloss vs champion" and not c.passed for c in worse.checks)
    better = gate("multiclass", mc(GOOD, champion=BLIND), champion="m/1", require_significant_improvement=True,
                  min_accuracy=0.0, min_macro_f1=0.0)
    sig = [c for c in better.checks if c.name.startswith("significant")]
    assert len(sig) == 1 and sig[0].passed and sig[0].observed < 0.05, sig
    same = gate("multiclass", mc(GOOD, champion=GOOD), champion="m/1", require_significant_improvement=True)
    assert [c.passed for c in same.checks if c.name.startswith("significant")] == [False]


def test_regression_gate_is_judged_in_label_units_not_by_auc() -> None:
    # The defect: raw prices went through AUC, log loss and ECE and every regression model was rejected.
    report = gate("regression", reg(CLOSE))
    assert report.verdict == "promote", report.reasons()
    assert (report.task, report.decision_metric) == ("regression", "rmse")
    assert not any(name in c.name for c in report.checks for name in ("auc", "logloss", "calibration"))


def test_regression_gate_rejects_what_a_constant_beats() -> None:
    noisy = YR + RNG.normal(0, 30, 80)
    report = gate("regression", reg(noisy))
    assert {c.name for c in report.checks if not c.passed} >= {"rmse vs naive baseline", "mae vs naive baseline"}
    absolute = gate("regression", reg(CLOSE), max_rmse=0.1)
    assert [c.name for c in absolute.checks if not c.passed] == ["rmse bound"]


def test_regression_residual_by_slice_finds_the_biased_segment() -> None:
    report = gate("regression", reg(BIASED), slice_columns=("seg",), max_rmse_to_baseline=None,
                  max_mae_to_baseline=None, max_rmse=100.0)
    failed = sorted(c.name for c in report.checks if not c.passed)
    assert failed == ["residual by seg=a", "residual by seg=b"]
    assert gate("regression", reg(CLOSE), slice_columns=("seg",)).verdict == "promote"


def test_regression_champion_comparison_and_significance() -> None:
    worse = gate("regression", reg(BIASED, champion=CLOSE), champion="m/1")
    assert any(c.name == "rmse vs champion" and not c.passed for c in worse.checks)
    better = gate("regression", reg(CLOSE, champion=BIASED), champion="m/1", require_significant_improvement=True)
    assert better.verdict == "promote", better.reasons()
    tie = gate("regression", reg(CLOSE, champion=CLOSE), champion="m/1", require_significant_improvement=True)
    assert tie.verdict == "reject" and "significant rmse improvement" in tie.reasons()[0]


def test_bootstrap_is_seeded_and_its_resamples_configurable() -> None:
    a, b = (CLOSE - YR) ** 2, (BIASED - YR) ** 2
    one = bootstrap_mean_difference("rmse", a, b, higher_is_better=False, transform=np.sqrt, n_boot=200, seed=3)
    assert one == bootstrap_mean_difference("rmse", a, b, higher_is_better=False, transform=np.sqrt,
                                            n_boot=200, seed=3)
    assert one.improvement == pytest.approx(np.sqrt(b.mean()) - np.sqrt(a.mean()))
    with pytest.raises(InputError):
        bootstrap_mean_difference("rmse", a, b[:-1], higher_is_better=False)
    with pytest.raises(ConfigError):
        SignificantGain("binary", "auc")


@pytest.mark.parametrize("policy, evidence", [
    (ClassRecallFloor(0.1), Evidence(task="multiclass", candidate={})),
    (BaselineBound("rmse", 1.0), Evidence(task="regression", candidate={}, y_true=YR, candidate_scores=CLOSE)),
    (ResidualBySlice("seg", 0.5), Evidence(task="regression", candidate={}, y_true=YR, candidate_scores=CLOSE)),
    (SignificantGain("regression", "rmse"), Evidence(task="regression", candidate={}, champion={"rmse": 1.0})),
    (ThresholdChecks(min_f1=0.5), Evidence(candidate={}, y_true=np.array([0, 1]),
                                           candidate_scores=np.array([0.2, 0.8]))),
])
def test_missing_evidence_fails_closed(policy, evidence) -> None:
    checks = [c for c in policy.evaluate(evidence) if "informational" not in c.expected]
    assert checks and not any(c.passed for c in checks)
    assert all("missing evidence" in c.detail for c in checks)


def test_binary_threshold_checks_are_informational_until_bounded() -> None:
    y, p = np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.6, 0.4, 0.7, 0.9])
    loose = ThresholdChecks().evaluate(Evidence(candidate={}, y_true=y, candidate_scores=p))
    assert all(c.passed and "informational" in c.expected for c in loose)
    ev = Evidence(candidate={}, y_true=y, candidate_scores=p, threshold=0.5)
    observed = {c.name: c.observed for c in ThresholdChecks().evaluate(ev)}
    assert observed == pytest.approx({"precision at threshold": 2 / 3, "recall at threshold": 2 / 3,
                                      "f1 at threshold": 2 / 3, "positive_rate at threshold": 0.6})
    strict = ThresholdChecks(min_recall=0.9, max_positive_rate=0.7).evaluate(ev)
    assert [c.passed for c in strict] == [True, False, True, True]


def test_default_policy_refuses_to_be_built_empty_or_unknown() -> None:
    with pytest.raises(ConfigError):
        default_policy("ranking", GateSettings(), has_champion=False)
    with pytest.raises(ConfigError):
        default_policy("regression", GateSettings(max_rmse_to_baseline=None, max_mae_to_baseline=None),
                       has_champion=False)
    with pytest.raises(ConfigError):
        default_policy("binary", None, has_champion=False)


@pytest.mark.parametrize("kw", [
    dict(task="ranking"), dict(task="multiclass", y_true=YM, candidate_scores=YM.astype(float)),
    dict(task="regression", y_true=YR, candidate_scores=GOOD[:, :1].repeat(80, 0)[:80]),
    dict(task="regression", threshold=0.5), dict(threshold=1.5), dict(baseline=3.0),
    dict(task="regression", baseline=float("nan")),
])
def test_evidence_refuses_what_does_not_fit_its_task(kw) -> None:
    with pytest.raises(InputError):
        Evidence(candidate={}, **kw)
