"""The one binary-metric implementation agrees with scikit-learn, ties and batches included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from driftline.errors import InputError
from training.metrics import BINARY_METRICS, accuracy, binary_logloss, brier, roc_auc


@pytest.mark.parametrize("seed", range(20))
def test_every_binary_metric_equals_sklearn_on_random_data_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 500))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    # Rounded scores tie often; exact 0 and 1 exercise the log-loss clip.
    p = np.round(rng.beta(2, 2, n), int(rng.integers(1, 4)))
    p[rng.random(n) < 0.05] = 0.0
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert binary_logloss(y, p) == pytest.approx(
        skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]), abs=1e-12)
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p >= 0.5), abs=1e-12)


def test_auc_is_vectorised_over_resamples() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (50, 300)).astype(bool)
    s = np.round(rng.random((50, 300)), 2)
    batch = roc_auc(y, s)
    assert batch.shape == (50,)
    assert batch == pytest.approx([skm.roc_auc_score(y[i], s[i]) for i in range(50)], abs=1e-12)


def test_auc_is_nan_on_one_class_and_labels_must_be_binary() -> None:
    assert np.isnan(roc_auc(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3])))
    both = roc_auc(np.array([[1, 1], [0, 1]]), np.array([[0.1, 0.2], [0.3, 0.4]]))
    assert np.isnan(both[0]) and both[1] == 1.0
    for bad in (np.array([0, 1, 2]), np.array([0.0, 1.0, 0.5])):
        with pytest.raises(InputError, match="0 or 1") as caught:
            roc_auc(bad, np.array([0.1, 0.2, 0.3]))
        assert caught.value.hint


def test_the_gate_and_training_share_one_table() -> None:
    from governance.evidence import METRICS

    assert METRICS is BINARY_METRICS and METRICS["auc"][0] is roc_auc
