"""Performance drift measured on stored batch scores whose labels arrived later, apart from the
window's own predictions (which only feed prediction drift)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from monitoring.drift import DriftPolicy, detect_drift
from monitoring.labels import LabelledScores
from monitoring.profile import build_profile


def _window(rng: np.random.Generator, n: int) -> pl.DataFrame:
    return pl.DataFrame({"x": rng.normal(size=n)})


def test_labels_may_belong_to_stored_scores_not_to_the_window() -> None:
    rng = np.random.default_rng(3)
    reference = _window(rng, 4000)
    profile = build_profile(reference, numeric=["x"], categorical=[], predictions=rng.uniform(size=4000))
    labels = rng.integers(0, 2, size=500).astype(float)
    useless_scores = rng.uniform(size=500)  # AUC ~ 0.5 against an 0.8 reference: a material drop
    policy = DriftPolicy(max_auc_drop=0.05)
    report = detect_drift(profile, _window(rng, 3000), policy, current_predictions=rng.uniform(size=3000),
                          labelled=LabelledScores(labels, useless_scores),
                          reference_performance={"auc": 0.8})
    assert report.performance["labelled_rows"] == 500
    assert report.performance["auc_drop"] > 0.2 and report.drifted
    good = detect_drift(profile, _window(rng, 3000), policy, current_predictions=rng.uniform(size=3000),
                        labelled=LabelledScores(labels, labels * 0.8 + 0.1),
                        reference_performance={"auc": 0.8})
    assert good.performance["auc_current"] == pytest.approx(1.0) and not good.drifted


def test_labels_need_the_scores_they_belong_to() -> None:
    with pytest.raises(InputError, match="10 labels for 9 predictions"):
        LabelledScores(np.ones(10), np.zeros(9))
    with pytest.raises(InputError, match="0 or 1"):
        LabelledScores(np.array([0.0, 2.0, np.nan]), np.zeros(3))
