"""Performance drift measured on stored batch scores whose labels arrived later, apart from the
window's own predictions (which only feed prediction drift)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from features.drift import detect_drift
from features.profile import build_profile


def _window(rng: np.random.Generator, n: int) -> pl.DataFrame:
    return pl.DataFrame({"x": rng.normal(size=n)})


def test_labels_may_belong_to_stored_scores_not_to_the_window() -> None:
    rng = np.random.default_rng(3)
    reference = _window(rng, 4000)
    profile = build_profile(reference, numeric=["x"], categorical=[], predictions=rng.uniform(size=4000))
    labels = rng.integers(0, 2, size=500).astype(float)
    useless_scores = rng.uniform(size=500)  # AUC ~ 0.5 against an 0.8 reference: a material drop
    report = detect_drift(profile, _window(rng, 3000), current_predictions=rng.uniform(size=3000),
                          labels=labels, scored_predictions=useless_scores,
                          reference_performance={"auc": 0.8}, max_auc_drop=0.05)
    assert report.performance["labelled_rows"] == 500
    assert report.performance["auc_drop"] > 0.2 and report.drifted
    good = detect_drift(profile, _window(rng, 3000), current_predictions=rng.uniform(size=3000),
                        labels=labels, scored_predictions=labels * 0.8 + 0.1,
                        reference_performance={"auc": 0.8}, max_auc_drop=0.05)
    assert good.performance["auc_current"] == pytest.approx(1.0) and not good.drifted


def test_labels_need_the_scores_they_belong_to() -> None:
    rng = np.random.default_rng(4)
    profile = build_profile(_window(rng, 1000), numeric=["x"], categorical=[])
    with pytest.raises(InputError, match="predictions they belong to"):
        detect_drift(profile, _window(rng, 1000), labels=np.ones(10))
