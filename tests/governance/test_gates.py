"""Gate policies: each check on a tiny deterministic example, composition, fail-closed defaults."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from driftline.errors import ConfigError, InputError
from driftline.settings import GateSettings
from governance.gates import (AllOf, AnyOf, Calibration, Evidence, LatencyBudget, MaxQuarantineShare,
                              MetricBound, MinTrainingRows, NoWorseThanChampion, SignificantImprovement,
                              SizeBudget, SliceBound, SliceNoWorse, default_policy, evaluate_gate,
                              expected_calibration_error)

Y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
CAND = np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.3, 0.6, 0.4])   # region a perfect, region b inverted
CHAMP = np.array([0.2, 0.7, 0.3, 0.6, 0.4, 0.6, 0.3, 0.7])  # perfect everywhere
REGION = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])


def ev(**kw) -> Evidence:
    base = dict(candidate={"auc": 0.8, "logloss": 0.5}, y_true=Y, candidate_scores=CAND,
                segments={"region": REGION})
    return Evidence(**{**base, **kw})


def verdicts(policy, evidence):
    return [c.passed for c in policy.evaluate(evidence)]


def test_metric_bound():
    assert verdicts(MetricBound("auc", min=0.7), ev()) == [True]
    assert verdicts(MetricBound("auc", min=0.85), ev()) == [False]
    assert verdicts(MetricBound("logloss", max=0.4), ev()) == [False]
    (missing,) = MetricBound("brier", max=0.2).evaluate(ev())
    assert not missing.passed and "missing evidence" in missing.detail
    with pytest.raises(ConfigError):
        MetricBound("auc")


def test_no_worse_than_champion():
    champ = {"auc": 0.803, "logloss": 0.45}
    assert verdicts(NoWorseThanChampion("auc", max_abs_drop=0.005), ev(champion=champ)) == [True]
    assert verdicts(NoWorseThanChampion("auc"), ev(champion=champ)) == [False]
    assert verdicts(NoWorseThanChampion("auc", max_rel_drop=0.01), ev(champion=champ)) == [True]
    assert verdicts(NoWorseThanChampion("logloss", higher_is_better=False, max_abs_drop=0.04),
                    ev(champion=champ)) == [False]
    (first,) = NoWorseThanChampion("auc").evaluate(ev())
    assert first.passed and "no champion" in first.detail


def test_data_and_budget_checks():
    e = ev(training_rows=499, quarantine_share=0.02, model_size_bytes=2_000, latency_ms_per_1k=3.0)
    assert verdicts(MinTrainingRows(500), e) == [False]
    assert verdicts(MinTrainingRows(499), e) == [True]
    assert verdicts(MaxQuarantineShare(0.05), e) == [True]
    assert verdicts(MaxQuarantineShare(0.01), e) == [False]
    assert verdicts(SizeBudget(1_000), e) == [False]
    assert verdicts(LatencyBudget(5.0), e) == [True]
    assert verdicts(SizeBudget(1_000), ev()) == [False]  # unknown size fails closed
    with pytest.raises(ConfigError):
        MaxQuarantineShare(1.5)


def test_slice_bound_names_the_failing_slice():
    checks = SliceBound("auc", "region", min=0.6).evaluate(ev())
    assert [(c.name, c.passed) for c in checks] == [("auc by region=a", True), ("auc by region=b", False)]
    assert checks[0].observed == 1.0 and checks[1].observed == 0.0
    (missing,) = SliceBound("auc", "country", min=0.5).evaluate(ev())
    assert not missing.passed and "country" in missing.detail
    one_class = ev(segments={"region": np.array(["a"] * 7 + ["b"])})
    assert verdicts(SliceBound("auc", "region", min=0.1), one_class)[1] is False


def test_slice_no_worse():
    with_champ = ev(champion={"auc": 0.9}, champion_scores=CHAMP)
    assert verdicts(SliceNoWorse("auc", "region", margin=0.05), with_champ) == [True, False]
    assert verdicts(SliceNoWorse("brier", "region", margin=1.0), with_champ) == [True, True]
    (first,) = SliceNoWorse("auc", "region").evaluate(ev())
    assert first.passed and "no champion" in first.detail


def test_calibration():
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0
    assert expected_calibration_error(np.array([0, 0, 1, 1]), np.array([0.5] * 4)) == 0.0
    assert expected_calibration_error(np.array([0, 0]), np.array([0.9, 0.9])) == pytest.approx(0.9)
    checks = Calibration(max_brier=0.2, max_ece=0.1).evaluate(ev())
    assert [c.name for c in checks] == ["calibration brier", "calibration ece"]
    assert checks[0].observed == pytest.approx(np.mean((CAND - Y) ** 2))
    assert [c.passed for c in checks] == [False, False]
    assert verdicts(Calibration(max_brier=0.3), ev()) == [True]
    with pytest.raises(ConfigError):
        Calibration()


def test_significant_improvement_passes_without_champion_and_fails_closed_without_scores():
    (first,) = SignificantImprovement().evaluate(ev())
    assert first.passed and "no champion" in first.detail
    (blind,) = SignificantImprovement().evaluate(ev(champion={"auc": 0.7}))
    assert not blind.passed and "missing evidence" in blind.detail


@pytest.mark.parametrize("method", ["bootstrap", "delong"])
def test_significant_improvement_with_real_and_without_improvement(method):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    champ = y + rng.normal(0, 1.2, 300)
    better, same = y + rng.normal(0, 0.5, 300), champ + rng.normal(0, 0.05, 300)
    policy = SignificantImprovement(method=method)
    base = dict(candidate={"auc": 0.9}, champion={"auc": 0.7}, y_true=y, champion_scores=champ)
    assert verdicts(policy, Evidence(candidate_scores=better, **base)) == [True]
    (flat,) = policy.evaluate(Evidence(candidate_scores=same, **base))
    assert not flat.passed and flat.observed > 0.05


def test_composition_semantics_and_fail_closed_empty():
    ok, bad = MetricBound("auc", min=0.5), MetricBound("auc", min=0.9)
    assert verdicts(AllOf(ok, ok), ev()) == [True, True]
    assert verdicts(AllOf(ok, bad), ev()) == [True, False]
    assert verdicts(AnyOf(bad, ok), ev()) == [True]
    (none,) = AnyOf(bad, bad).evaluate(ev())
    assert not none.passed and none.observed == (False, False) and "auc bound" in none.detail
    assert verdicts(AllOf(AnyOf(bad, ok), ok), ev()) == [True, True]
    with pytest.raises(ConfigError):
        AllOf()
    with pytest.raises(ConfigError):
        AnyOf()


class Silent:
    name = "silent"

    def evaluate(self, evidence):
        return ()


def test_policy_without_checks_rejects():
    report = evaluate_gate(Silent(), ev(), candidate="churn/1", champion=None)
    assert report.verdict == "reject" and not report.passed
    assert report.reasons() == ("no checks ran: an empty policy never promotes.",)


def test_default_policy_and_evaluate_gate():
    gate = GateSettings(max_ece=0.5)  # the tiny example's scores rank well but are not probabilities
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    facts = dict(training_rows=1000, quarantine_share=0.0, model_size_bytes=10_000, latency_ms_per_1k=2.0)
    e = ev(**facts)
    first = evaluate_gate(default_policy(gate, has_champion=False), e, candidate="churn/1",
                          champion=None, now=now)
    assert first.verdict == "promote", first.reasons()
    assert [c.name for c in first.checks] == ["auc bound", "logloss bound", "calibration ece", "model size",
                                              "scoring latency", "training rows", "quarantine share",
                                              "precision at threshold", "recall at threshold",
                                              "f1 at threshold", "positive_rate at threshold"]
    assert (first.task, first.decision_metric) == ("binary", "auc")
    assert first.created_at == "2024-05-01T00:00:00.000000Z"
    worse = ev(**facts, champion={"auc": 0.81})
    second = evaluate_gate(default_policy(gate, has_champion=True), worse, candidate="churn/2",
                           champion="churn/1", now=now)
    assert second.verdict == "reject"
    assert len(second.reasons()) == 1 and "auc vs champion" in second.reasons()[0]
    thin = evaluate_gate(default_policy(gate, has_champion=False), ev(), candidate="c", champion=None)
    assert thin.verdict == "reject"  # no data facts given: fail closed
    strict = evaluate_gate(default_policy(GateSettings(), has_champion=False), e, candidate="c", champion=None)
    assert strict.reasons() == ("calibration ece: observed 0.4, expected <= 0.05 (scores are miscalibrated).",)


def test_evidence_refuses_misaligned_arrays():
    with pytest.raises(InputError):
        Evidence(candidate={}, y_true=Y, candidate_scores=CAND[:3])
    with pytest.raises(InputError):
        Evidence(candidate={}, candidate_scores=CAND)
    with pytest.raises(InputError):
        Evidence(candidate={}, quarantine_share=2.0)


def _failed(report) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def test_default_gates_hold_every_segment_to_the_absolute_bounds():
    """A segment far below the whole holdout's floor fails, with no champion to compare against."""
    y = np.tile([0, 1], 40)
    region = np.repeat(["a", "b"], 40)
    good = np.where(y == 1, 0.8, 0.2)
    binary = np.where(region == "a", good, 0.5 + 0.1 * (1 - 2 * y))  # region b ranked backwards
    settings = GateSettings(slice_columns=("region",), min_training_rows=0, min_slice_rows=10)
    e = Evidence(candidate={"auc": 0.75, "logloss": 0.5}, y_true=y, candidate_scores=binary,
                 segments={"region": region}, training_rows=100, quarantine_share=0.0, model_size_bytes=10,
                 latency_ms_per_1k=1.0, threshold=0.5)
    failed = _failed(evaluate_gate(default_policy("binary", settings, has_champion=False), e,
                                   candidate="m", champion=None))
    assert "auc by region=b" in failed and "auc by region=a" not in failed
    # Regression: an absolute RMSE ceiling applies in each segment too.
    yr = np.linspace(0.0, 10.0, 80)
    pred = np.where(region == "a", yr, yr + 3.0)
    er = Evidence(task="regression", candidate={"rmse": 2.1, "mae": 1.5}, y_true=yr, candidate_scores=pred,
                  segments={"region": region}, training_rows=100, quarantine_share=0.0, model_size_bytes=10,
                  latency_ms_per_1k=1.0, baseline=5.0)
    failed = _failed(evaluate_gate(default_policy("regression", GateSettings(
        slice_columns=("region",), max_rmse=2.5, max_slice_residual_bias=10.0, min_slice_rows=10),
        has_champion=False), er,
        candidate="m", champion=None))
    assert "rmse by region=b" in failed and "rmse by region=a" not in failed
    # Multiclass: accuracy's floor in each segment.
    yk = np.tile([0, 1, 2, 0], 20)
    right = np.eye(3)[yk] * 0.8 + 0.2 / 3
    wrong = np.eye(3)[(yk + 1) % 3] * 0.8 + 0.2 / 3
    proba = np.where((region == "a")[:, None], right, wrong)
    ek = Evidence(task="multiclass", candidate={"logloss": 0.5, "accuracy": 0.5, "macro_f1": 0.5}, y_true=yk,
                  candidate_scores=proba, segments={"region": region}, training_rows=100, quarantine_share=0.0,
                  model_size_bytes=10, latency_ms_per_1k=1.0)
    failed = _failed(evaluate_gate(default_policy("multiclass", GateSettings(
        slice_columns=("region",), max_multi_logloss=5.0, min_slice_rows=10), has_champion=False), ek,
        candidate="m", champion=None))
    assert "accuracy by region=b" in failed and "accuracy by region=a" not in failed


def test_slice_bound_names_its_task():
    with pytest.raises(ConfigError):
        SliceBound("rmse", "region", max=1.0)  # a regression metric on the binary default
    (check,) = SliceBound("rmse", "region", max=1.0, task="regression").evaluate(ev())
    assert not check.passed and "missing evidence" in check.detail


def test_a_segment_too_small_to_judge_is_reported_not_judged():
    y = np.tile([0, 1], 40)
    region = np.repeat(["a", "b"], 40)
    scores = np.where(region == "a", np.where(y == 1, 0.8, 0.2), np.where(y == 1, 0.4, 0.6))
    e = Evidence(candidate={"auc": 0.75}, y_true=y, candidate_scores=scores, segments={"region": region})
    judged = {c.name: c for c in SliceBound("auc", "region", min=0.65, min_rows=20).evaluate(e)}
    assert not judged["auc by region=b"].passed  # 20 rows of each class: judged, and below the floor
    small = {c.name: c for c in SliceBound("auc", "region", min=0.65, min_rows=21).evaluate(e)}
    assert small["auc by region=b"].passed and "not judged: 20 rows" in small["auc by region=b"].detail
    assert small["auc by region=b"].observed == judged["auc by region=b"].observed  # the value is still shown
    with pytest.raises(ConfigError):
        SliceBound("auc", "region", min=0.65, min_rows=-1)
