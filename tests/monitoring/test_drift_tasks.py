"""Drift of the other tasks: a multiclass model's predicted class and a regression model's target."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from monitoring.drift import DriftPolicy, DriftReport, detect_drift
from monitoring.profile import ReferenceProfile, build_profile, prediction_values

RNG = np.random.default_rng(3)
FRAME = pl.DataFrame({"x": RNG.normal(size=600)})


def _probabilities(favoured: np.ndarray) -> np.ndarray:
    """(n, 3) class probabilities, the favoured class of each row at 0.6."""
    p = np.full((favoured.size, 3), 0.2)
    p[np.arange(favoured.size), favoured] = 0.6
    return p


def test_multiclass_predictions_drift_as_the_predicted_class_distribution() -> None:
    reference = _probabilities(RNG.integers(0, 3, size=600))
    profile = build_profile(FRAME, numeric=["x"], categorical=[], predictions=reference)
    assert profile.prediction is not None and profile.prediction.n == 600  # one value per row, not n * k

    same = detect_drift(profile, FRAME, DriftPolicy(), current_predictions=_probabilities(RNG.integers(0, 3, 600)))
    assert same.prediction is not None and not same.prediction.drifted and not same.drifted
    skewed = detect_drift(profile, FRAME, DriftPolicy(), current_predictions=_probabilities(np.full(600, 2)))
    assert skewed.prediction is not None and skewed.prediction.drifted and skewed.drifted
    assert prediction_values(_probabilities(np.array([2, 0]))).tolist() == [2.0, 0.0]


def test_a_regression_targets_distribution_drifts_and_round_trips() -> None:
    labels = RNG.normal(100, 10, size=600)
    profile = build_profile(FRAME, numeric=["x"], categorical=[], target=labels)
    assert ReferenceProfile.from_json(profile.to_json()) == profile

    steady = detect_drift(profile, FRAME, DriftPolicy(), current_target=RNG.normal(100, 10, size=300))
    assert steady.target is not None and not steady.target.drifted and not steady.drifted
    moved = detect_drift(profile, FRAME, DriftPolicy(), current_target=RNG.normal(130, 10, size=300))
    assert moved.target is not None and moved.target.drifted and moved.drifted
    assert moved.drifted_features() == ()  # the features did not move: the label did
    assert DriftReport.from_json(moved.to_json()) == moved
    with pytest.raises(InputError, match="target values"):
        build_profile(FRAME, numeric=["x"], categorical=[], target=labels[:10])


def test_a_profile_without_a_target_keeps_its_bytes_and_ignores_current_labels() -> None:
    profile = build_profile(FRAME, numeric=["x"], categorical=[])
    assert b'"target"' not in profile.to_json()  # versions signed before targets existed still verify
    report = detect_drift(profile, FRAME, DriftPolicy(), current_target=np.ones(5))
    assert report.target is None and b'"target":null' in report.to_json()
