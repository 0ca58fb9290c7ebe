"""The drift monitor: finds shifts of known size, stays quiet on fresh samples, explains itself."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from driftline.errors import InputError
from monitoring.drift import DriftPolicy, DriftReport, detect_drift
from monitoring.labels import LabelledScores
from monitoring.profile import build_profile

NUMERIC, CATEGORICAL = ["x", "y", "k"], ["device"]


def sample(rng: np.random.Generator, n: int, *, shift: float = 0.0, mobile: float = 0.2) -> pl.DataFrame:
    """A normal, a skewed and a discrete feature, and a device mix with ``mobile`` share."""
    return pl.DataFrame({
        "x": rng.normal(shift, 1.0, n), "y": rng.exponential(1.0, n), "k": rng.poisson(1.0, n),
        "device": rng.choice(["mobile", "desktop", "tablet"], n, p=[mobile, (1 - mobile) * 0.6, (1 - mobile) * 0.4]),
    })


def profile_of(frame: pl.DataFrame, **kwargs):
    return build_profile(frame, numeric=NUMERIC, categorical=CATEGORICAL, **kwargs)


def test_known_shifts_are_found_on_every_seed() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        profile = profile_of(sample(rng, 5000))
        report = detect_drift(profile, sample(rng, 5000, shift=0.5, mobile=0.5))
        assert report.drifted_features() == ("x", "device"), (seed, [f.reason for f in report.features])
        assert report.drifted and report.share_drifted == 0.5


def test_false_alarm_rate_over_200_seeds() -> None:
    """Fresh samples of the reference distribution, 5,000 rows each side, dataset-level verdict.

    Bound: under no drift every test's p-value is valid (the grid KS is conservative), so
    Benjamini–Hochberg at 0.01 keeps P(any feature significant) <= 0.01 and a dataset alarm, which
    also needs a material shift, is rarer still. At a true rate of 0.01, 7 or more alarms in 200
    runs has probability below 0.5%, so <= 6 is the bound; we expect (and see) none.
    """
    alarms = significant = 0
    raw = []
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        report = detect_drift(profile_of(sample(rng, 5000)), sample(rng, 5000))
        alarms += report.drifted
        significant += any(f.p_adjusted < 0.01 for f in report.features)
        raw.append([f.p_value for f in report.features])
    assert alarms <= 6 and significant <= 6, (alarms, significant)
    # The approximated tests are calibrated, not anti-conservative: at most 5% + 3 sd below 0.05.
    assert (np.array(raw) < 0.05).mean(axis=0).max() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)


def test_trivial_shift_on_a_large_window_is_significant_but_immaterial() -> None:
    rng = np.random.default_rng(1)
    profile = profile_of(sample(rng, 100_000))
    x = detect_drift(profile, sample(rng, 100_000, shift=0.04)).features[0]
    assert x.p_adjusted < 1e-3 and not x.drifted
    assert x.reason.startswith("significant but immaterial")


def test_statistics_agree_with_scipy_on_raw_samples() -> None:
    rng = np.random.default_rng(2)
    reference, current = rng.normal(0, 1, 20_000), rng.normal(0.3, 1.3, 20_000)
    profile = build_profile(pl.DataFrame({"x": reference}), numeric=["x"], categorical=[])
    x = detect_drift(profile, pl.DataFrame({"x": current})).features[0]
    exact_d = stats.ks_2samp(reference, current).statistic
    assert exact_d - 0.011 <= x.statistic <= exact_d + 1e-12  # grid D: never above, within a step
    assert x.wasserstein == pytest.approx(stats.wasserstein_distance(reference, current), rel=0.05)


def test_psi_matches_the_formula_on_a_hand_made_example() -> None:
    profile = build_profile(pl.DataFrame({"c": ["a"] * 50 + ["b"] * 50}), numeric=[], categorical=["c"])
    c = detect_drift(profile, pl.DataFrame({"c": ["a"] * 80 + ["b"] * 20})).features[0]
    assert c.psi == pytest.approx((0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5))
    assert c.statistic == pytest.approx(stats.chi2_contingency([[50, 50], [80, 20]], correction=False).statistic)


def test_unseen_categories_count_as_other() -> None:
    profile = build_profile(pl.DataFrame({"c": ["a", "b"] * 500}), numeric=[], categorical=["c"])
    c = detect_drift(profile, pl.DataFrame({"c": ["a", "b", "zzz", "yyy"] * 250})).features[0]
    assert c.drifted and "2 unseen categories" in c.reason


def test_nulls_constants_and_an_all_null_window() -> None:
    n = 4000
    rng = np.random.default_rng(3)
    reference = pl.DataFrame({"v": rng.normal(size=n), "const": np.full(n, 7.0)})
    profile = build_profile(reference, numeric=["v", "const"], categorical=[])
    same = detect_drift(profile, pl.DataFrame({"v": rng.normal(size=n), "const": np.full(n, 7.0)}))
    assert not same.drifted and same.features[1].psi == 0.0 and same.features[1].statistic == 0.0
    moved = detect_drift(profile, pl.DataFrame({"v": rng.normal(size=n), "const": np.full(n, 8.0)}))
    assert moved.drifted_features() == ("const",)
    # Half the values go missing: KS on the remaining values sees nothing, the null bin does.
    half = pl.Series("v", rng.normal(size=n)).scatter(np.arange(0, n, 2), None)
    report = detect_drift(profile, pl.DataFrame({"v": half, "const": np.full(n, 7.0)}))
    assert report.features[0].drifted and "0.0% -> 50.0%" in report.features[0].reason
    empty = pl.DataFrame({"v": pl.Series([None] * 50, dtype=pl.Float64), "const": [7.0] * 50})
    v = detect_drift(profile, empty).features[0]
    assert v.drifted and v.statistic is None and v.wasserstein is None and "-> 100.0%" in v.reason


def test_empty_window_and_bad_arguments_are_input_errors() -> None:
    profile = profile_of(sample(np.random.default_rng(4), 500))
    with pytest.raises(InputError, match="no rows"):
        detect_drift(profile, sample(np.random.default_rng(5), 0))
    with pytest.raises(InputError, match=r"missing from the current window: \['device'\]"):
        detect_drift(profile, sample(np.random.default_rng(5), 100).drop("device"))
    with pytest.raises(InputError, match=r"not in the profile: \['typo'\]"):
        detect_drift(profile, sample(np.random.default_rng(5), 100), DriftPolicy(critical=("typo",)))
    with pytest.raises(InputError, match="no prediction distribution"):
        detect_drift(profile, sample(np.random.default_rng(5), 100), current_predictions=np.zeros(100))


def test_share_rule_and_critical_features() -> None:
    rng = np.random.default_rng(6)
    profile = profile_of(sample(rng, 5000))
    current = sample(rng, 5000, shift=0.6)  # one feature of four: 25% < 30%
    quiet = detect_drift(profile, current)
    assert quiet.drifted_features() == ("x",) and not quiet.drifted
    loud = detect_drift(profile, current, DriftPolicy(critical=("x",)))
    assert loud.drifted and loud.features[0].critical and "critical feature (x)" in loud.rule
    assert detect_drift(profile, current, DriftPolicy(share_threshold=0.25)).drifted


def test_prediction_and_performance_drift() -> None:
    rng = np.random.default_rng(7)
    reference = sample(rng, 5000)
    profile = profile_of(reference, predictions=rng.beta(2, 5, 5000))
    current = sample(rng, 5000)
    stable = detect_drift(profile, current, current_predictions=rng.beta(2, 5, 5000))
    assert stable.prediction is not None and not stable.prediction.drifted and not stable.drifted
    shifted = detect_drift(profile, current, current_predictions=rng.beta(5, 2, 5000))
    assert shifted.prediction.drifted and shifted.drifted and shifted.drifted_features() == ()
    # Labels of half the scored rows have arrived; the scores now carry no signal at all.
    scores = rng.beta(2, 5, 5000)
    labels = rng.integers(0, 2, 5000).astype(float)
    labels[::2] = np.nan
    report = detect_drift(profile, current, current_predictions=scores,
                          labelled=LabelledScores(labels, scores), reference_performance={"auc": 0.8})
    perf = report.performance
    assert perf["labelled_rows"] == 2500 and abs(perf["auc_current"] - 0.5) < 0.05
    assert perf["auc_drop"] == pytest.approx(0.8 - perf["auc_current"]) and report.drifted
    known = ~np.isnan(labels)
    from sklearn.metrics import roc_auc_score  # a second, independent AUC implementation
    assert perf["auc_current"] == pytest.approx(roc_auc_score(labels[known], scores[known]))


def test_report_json_round_trip_and_bytes_are_canonical() -> None:
    rng = np.random.default_rng(8)
    profile = profile_of(sample(rng, 2000), predictions=rng.random(2000))
    scores = rng.random(2000)
    report = detect_drift(profile, sample(rng, 2000, shift=1.0), current_predictions=scores,
                          labelled=LabelledScores(rng.integers(0, 2, 2000).astype(float), scores),
                          reference_performance={"auc": 0.7})
    again = DriftReport.from_json(report.to_json())
    assert again == report and again.to_json() == report.to_json()
    assert report.to_dict()["features"][0]["name"] == "x"
    with pytest.raises(InputError, match="malformed"):
        DriftReport.from_json(b'{"features": [{"name": "x"}]}')


def test_feature_empty_in_the_reference_drifts_when_values_appear() -> None:
    profile = build_profile(pl.DataFrame({"z": pl.Series([None] * 500, dtype=pl.Float64)}),
                            numeric=["z"], categorical=[])
    z = detect_drift(profile, pl.DataFrame({"z": np.arange(500.0)}), DriftPolicy(critical="z")).features[0]
    assert z.drifted and z.critical and z.statistic is None and "100.0% -> 0.0%" in z.reason


def test_policy_comes_from_the_settings_and_refuses_bounds_that_cannot_fire() -> None:
    from driftline.errors import ConfigError
    from driftline.settings import DriftSettings

    policy = DriftPolicy.from_settings(DriftSettings(psi_threshold=0.3, critical_features=("x",), max_auc_drop=0.1))
    assert (policy.psi_threshold, policy.critical, policy.max_auc_drop, policy.p_value) == (0.3, ("x",), 0.1, 0.01)
    for bad in ({"share_threshold": 0.0}, {"p_value": 1.0}, {"psi_threshold": -1.0}, {"max_auc_drop": -0.1}):
        with pytest.raises(ConfigError, match="out of range"):
            DriftPolicy(**bad)
