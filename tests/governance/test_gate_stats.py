"""AUC significance: bootstrap and DeLong agree with sklearn and with each other."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from driftline.errors import InputError
from governance.gate_stats import bootstrap_auc_difference, delong_auc_difference
from training.metrics import roc_auc


def scores(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    champion = y + rng.normal(0, 1.2, n)        # AUC about 0.72
    better = y + rng.normal(0, 0.5, n)          # AUC about 0.92
    same = champion + rng.normal(0, 0.05, n)    # the champion, slightly perturbed
    return y, champion, better, same


def test_rank_auc_matches_sklearn_with_ties():
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.4, 0.8, 0.2, 0.9, 0.1, 0.5])
    assert roc_auc(y.astype(bool), s) == pytest.approx(roc_auc_score(y, s))


@pytest.mark.parametrize("test", [bootstrap_auc_difference, delong_auc_difference])
def test_real_improvement_is_significant(test):
    y, champion, better, _ = scores()
    result = test(y, better, champion)
    assert result.candidate_auc == pytest.approx(roc_auc_score(y, better))
    assert result.champion_auc == pytest.approx(roc_auc_score(y, champion))
    assert result.difference > 0.1
    assert result.p_value < 0.01
    assert result.ci_low > 0


@pytest.mark.parametrize("test", [bootstrap_auc_difference, delong_auc_difference])
def test_no_improvement_is_not_significant(test):
    y, champion, _, same = scores()
    result = test(y, same, champion)
    assert abs(result.difference) < 0.02
    assert result.p_value > 0.05
    assert result.ci_low < 0 < result.ci_high or result.ci_high <= 0


def test_bootstrap_is_deterministic_for_a_seed():
    y, champion, better, _ = scores()
    assert bootstrap_auc_difference(y, better, champion, seed=3) == \
        bootstrap_auc_difference(y, better, champion, seed=3)


def test_delong_and_bootstrap_agree_on_the_interval():
    y, champion, better, _ = scores(seed=5)
    d, b = delong_auc_difference(y, better, champion), bootstrap_auc_difference(y, better, champion)
    assert d.ci_low == pytest.approx(b.ci_low, abs=0.03)
    assert d.ci_high == pytest.approx(b.ci_high, abs=0.03)


def test_identical_scores_give_no_evidence():
    y, champion, _, _ = scores()
    assert delong_auc_difference(y, champion, champion).p_value == 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(InputError):
        delong_auc_difference(np.ones(5), np.zeros(5), np.zeros(5))
    with pytest.raises(InputError):
        bootstrap_auc_difference(np.array([0, 1]), np.zeros(3), np.zeros(2))
    with pytest.raises(InputError):
        bootstrap_auc_difference(np.array([0, 1]), np.zeros(2), np.zeros(2), n_boot=10)
