"""Significance of an improvement: paired bootstrap and DeLong's test.

Both compare candidate and champion scores on the same rows and the same labels, and answer one
question: is the candidate's ROC AUC higher than the champion's by more than chance would give?
The tests are one-sided (H0: candidate AUC <= champion AUC). The bootstrap resamples rows with a
seeded generator and computes every resample's AUC by ranks in one vectorised pass; DeLong uses
the fast midrank algorithm of Sun & Xu (2014). Where DeLong does not apply (multiclass log loss
or accuracy, regression RMSE or MAE), :func:`bootstrap_mean_difference` resamples rows of per-row
losses of both models together (paired), so the statistic is ``transform(mean(rows))`` per model
and every resample costs two means. Results are typed (:class:`AucComparison`,
:class:`MetricComparison`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import norm, rankdata

from driftline.errors import InputError
from training.metrics import roc_auc

_BATCH = 200  # bootstrap resamples ranked at once: bounds memory at ~_BATCH * rows floats


@dataclass(frozen=True)
class AucComparison:
    """Candidate vs champion AUC; ``p_value`` is one-sided for "candidate is better"."""

    method: Literal["bootstrap", "delong"]
    candidate_auc: float
    champion_auc: float
    difference: float
    p_value: float
    ci_low: float
    ci_high: float


def _check(y_true: np.ndarray, *scores: np.ndarray) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise InputError("y_true must be a 1-d array of 0/1 labels")
    if y.min(initial=1) == y.max(initial=0):
        raise InputError("AUC needs both classes in y_true", hint="evaluate on a holdout with both labels")
    for s in scores:
        if np.shape(s) != y.shape or not np.isfinite(s).all():
            raise InputError(f"scores of shape {np.shape(s)} do not match labels of shape {y.shape} "
                             "or hold NaN/inf")
    return y.astype(bool)


def bootstrap_auc_difference(y_true: np.ndarray, candidate: np.ndarray, champion: np.ndarray, *,
                             n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> AucComparison:
    """Paired bootstrap of AUC(candidate) - AUC(champion); resamples missing a class are skipped."""
    if n_boot < 100:
        raise InputError(f"n_boot={n_boot} is too few for a p-value", hint="use at least 100 resamples")
    y = _check(y_true, candidate, champion)
    cand, champ = np.asarray(candidate, float), np.asarray(champion, float)
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    for start in range(0, n_boot, _BATCH):
        idx = rng.integers(0, y.size, size=(min(_BATCH, n_boot - start), y.size))
        yb = y[idx]
        # 2-d input: roc_auc gives one AUC per resample, an array (its float case is 1-d input only).
        diffs.append(np.asarray(roc_auc(yb, cand[idx]) - roc_auc(yb, champ[idx])))
    diff = np.concatenate(diffs)
    diff = diff[np.isfinite(diff)]
    observed_cand, observed_champ = float(roc_auc(y, cand)), float(roc_auc(y, champ))
    p_value = (1 + np.count_nonzero(diff <= 0)) / (diff.size + 1)
    low, high = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    return AucComparison("bootstrap", observed_cand, observed_champ, observed_cand - observed_champ,
                         float(p_value), float(low), float(high))


def delong_auc_difference(y_true: np.ndarray, candidate: np.ndarray, champion: np.ndarray, *,
                          alpha: float = 0.05) -> AucComparison:
    """DeLong's test for two correlated AUCs (Sun & Xu's midrank algorithm)."""
    y = _check(y_true, candidate, champion)
    scores = np.vstack([np.asarray(candidate, float), np.asarray(champion, float)])
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    tx, ty = rankdata(pos, axis=1), rankdata(neg, axis=1)
    tz = rankdata(np.hstack([pos, neg]), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:, :m] - tx) / n          # per-positive structural components
    v10 = 1.0 - (tz[:, m:] - ty) / m    # per-negative structural components
    cov = np.cov(v01) / m + np.cov(v10) / n
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 0 or not math.isfinite(var):
        # Identical rankings: no evidence either way, and no positive variance to divide by.
        return AucComparison("delong", float(aucs[0]), float(aucs[1]), diff, 1.0 if diff <= 0 else 0.0,
                             diff, diff)
    sd = math.sqrt(var)
    half = float(norm.ppf(1 - alpha / 2)) * sd
    return AucComparison("delong", float(aucs[0]), float(aucs[1]), diff, float(norm.sf(diff / sd)),
                         diff - half, diff + half)


@dataclass(frozen=True)
class MetricComparison:
    """Candidate vs champion on one metric; ``improvement`` is positive when the candidate is
    better (whatever the metric's direction) and ``p_value`` is one-sided for "it is better"."""

    metric: str
    candidate: float
    champion: float
    improvement: float
    p_value: float
    ci_low: float
    ci_high: float


def bootstrap_mean_difference(metric: str, candidate_rows: np.ndarray, champion_rows: np.ndarray, *,
                              higher_is_better: bool, transform: Callable[[np.ndarray], np.ndarray] = np.asarray,
                              n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> MetricComparison:
    """Paired bootstrap of a metric that is ``transform(mean of per-row values)`` (RMSE is the
    square root of the mean squared error; log loss, accuracy and MAE are plain means)."""
    if n_boot < 100:
        raise InputError(f"n_boot={n_boot} is too few for a p-value", hint="use at least 100 resamples")
    cand, champ = np.asarray(candidate_rows, float), np.asarray(champion_rows, float)
    if cand.ndim != 1 or cand.shape != champ.shape or cand.size < 2 or not (
            np.isfinite(cand).all() and np.isfinite(champ).all()):
        raise InputError(f"per-row values of shapes {cand.shape} and {champ.shape} are not two aligned "
                         "finite 1-d arrays of at least two rows", hint="score both models on the same holdout")
    sign = 1.0 if higher_is_better else -1.0
    rng = np.random.default_rng(seed)
    gains: list[np.ndarray] = []
    for start in range(0, n_boot, _BATCH):
        idx = rng.integers(0, cand.size, size=(min(_BATCH, n_boot - start), cand.size))
        gains.append(sign * (transform(cand[idx].mean(axis=1)) - transform(champ[idx].mean(axis=1))))
    gain = np.concatenate(gains)
    observed_cand, observed_champ = float(transform(cand.mean())), float(transform(champ.mean()))
    p_value = (1 + np.count_nonzero(gain <= 0)) / (gain.size + 1)
    low, high = np.quantile(gain, [alpha / 2, 1 - alpha / 2])
    return MetricComparison(metric, observed_cand, observed_champ, sign * (observed_cand - observed_champ),
                            float(p_value), float(low), float(high))
