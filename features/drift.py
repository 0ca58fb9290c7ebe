"""Drift statistics: compare a current window with a model version's reference profile.

For every profiled feature :func:`detect_drift` computes PSI over the reference's quantile bins
(nulls are a bin of their own, empty bins count as 1e-4), the Jensen–Shannon distance (base 2,
0..1) over the same bins, and a test: for numeric features a two-sample Kolmogorov–Smirnov test
whose statistic is taken on the profile's grid (101 percentiles plus the bin edges, where the
reference CDF was stored exactly), so it never exceeds the exact D and is below it by at most
about one percentile step — a slightly conservative test; for categorical features a chi-square
test of homogeneity over the reference's categories, "other" (unseen or rare) and null. A numeric
feature whose null rate can differ is also given a 2x2 chi-square on its null share, and the two
p-values are Bonferroni-combined. The Wasserstein-1 distance comes from the two quantile
functions (the reference's 101 percentiles against the current window's). The model's
predictions are compared the same way, and AUC is compared once labels of scored rows arrive.

The rule, chosen because tests alone flag trivial shifts on large windows and effect sizes alone
flag noise on small ones: a feature drifts only when its test is *significant* (p below
``p_value`` after Benjamini–Hochberg correction over every test in the report) **and** its shift
is *material* (PSI at least ``psi_threshold`` or Jensen–Shannon distance at least
``min_effect``). The dataset drifts when the share of drifted features reaches
``share_threshold``, or a critical feature drifts, or the predictions drift, or AUC falls by more
than ``max_auc_drop``. Drift is a result (:class:`DriftReport`), never an exception; an empty
current window, however, is an :class:`~driftline.errors.InputError`: no rows is a broken pipeline
to fix, and calling it "no drift" would hide that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import kolmogorov

from driftline.canonical import canonical_json
from driftline.errors import InputError
from features.profile import CategoricalProfile, NumericProfile, ReferenceProfile, category_counts, finite_values

PSI_EPSILON = 1e-4
# Above this effective size the exact KS distribution and its asymptote agree to ~1e-6, and the
# exact one can take most of a second to evaluate.
KS_EXACT_LIMIT = 10_000
LEVELS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison. ``statistic`` is KS D (numeric) or chi-square (categorical)."""

    name: str
    kind: Literal["numeric", "categorical", "prediction"]
    psi: float
    statistic: float | None
    p_value: float
    p_adjusted: float
    jensen_shannon: float
    wasserstein: float | None
    drifted: bool
    critical: bool
    reason: str


@dataclass(frozen=True)
class DriftReport:
    """The monitor's verdict. Round-trip law: ``DriftReport.from_json(r.to_json()) == r``."""

    drifted: bool
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    share_drifted: float
    rule: str
    reference_rows: int
    current_rows: int
    performance: Mapping[str, float] | None = None

    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [asdict(f) for f in self.features]
        data["performance"] = dict(self.performance) if self.performance is not None else None
        return data

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> "DriftReport":
        try:
            raw = json.loads(data)
            raw["features"] = tuple(FeatureDrift(**f) for f in raw["features"])
            raw["prediction"] = FeatureDrift(**raw["prediction"]) if raw["prediction"] is not None else None
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"drift report is malformed: {exc}",
                             hint="read reports written by DriftReport.to_json") from exc


@dataclass(frozen=True)
class _Comparison:
    """A feature's statistics before the multiple-test correction decides."""

    name: str
    kind: Literal["numeric", "categorical", "prediction"]
    psi: float
    statistic: float | None
    p_value: float
    jensen_shannon: float
    wasserstein: float | None
    note: str


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def _psi_js(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    ref, cur = _shares(reference), _shares(current)
    ref_e, cur_e = np.maximum(ref, PSI_EPSILON), np.maximum(cur, PSI_EPSILON)
    psi = float(np.sum((cur_e - ref_e) * np.log(cur_e / ref_e)))
    js = float(jensenshannon(ref, cur, base=2))
    return psi, (0.0 if not np.isfinite(js) else js)  # p == q can round to sqrt(-tiny) = nan


def _chi2_p(table: np.ndarray) -> tuple[float, float]:
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _ks_p(d: float, n_ref: int, n_cur: int) -> float:
    en = n_ref * n_cur / (n_ref + n_cur)
    if en <= KS_EXACT_LIMIT:
        return float(stats.kstwo.sf(d, max(1, round(en))))
    return float(kolmogorov(np.sqrt(en) * d))


def bin_counts(spec: NumericProfile, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of ``values`` in the spec's PSI bins, plus the reference and current CDFs on its grid.

    One ``searchsorted`` over the merged grid serves both: a value lands in ``(g[i-1], g[i]]``.
    """
    grid, cdf_reference = spec.grid()
    if values.size == 0:
        return np.zeros(len(spec.counts), dtype=np.int64), cdf_reference, np.zeros(grid.size)
    if grid.size == 0:  # the reference had no values: one bin holds everything
        return np.array([values.size]), cdf_reference, np.empty(0)
    cumulative = np.cumsum(np.bincount(np.searchsorted(grid, values), minlength=grid.size + 1))
    at_edges = cumulative[np.searchsorted(grid, np.asarray(spec.edges, float))]
    counts = np.diff(np.concatenate([[0], at_edges, [values.size]]))
    return counts, cdf_reference, cumulative[:-1] / values.size


def _compare_numeric(name: str, kind: Literal["numeric", "prediction"], spec: NumericProfile,
                     values: np.ndarray, nulls: int) -> _Comparison:
    counts, cdf_reference, cdf_current = bin_counts(spec, values)
    psi, js = _psi_js(np.array([*spec.counts, spec.null_count]), np.append(counts, nulls))
    statistic = wasserstein = None
    p_values = []
    if spec.non_null and values.size:
        statistic = float(np.max(np.abs(cdf_reference - cdf_current)))
        p_values.append(_ks_p(statistic, spec.non_null, values.size))
        wasserstein = float(np.trapezoid(np.abs(np.asarray(spec.quantiles) - np.quantile(values, LEVELS)), LEVELS))
    if spec.null_count or nulls:
        p_values.append(_chi2_p(np.array([[spec.non_null, spec.null_count], [values.size, nulls]]))[1])
    p = min(1.0, len(p_values) * min(p_values)) if p_values else 1.0
    note = f"null share {spec.null_count / spec.n:.1%} -> {nulls / (values.size + nulls):.1%}"
    return _Comparison(name, kind, psi, statistic, p, js, wasserstein, note)


def _compare_categorical(name: str, spec: CategoricalProfile, series: pl.Series) -> _Comparison:
    current, nulls = category_counts(series)
    known = list(spec.counts)
    cur_known = [current.get(k, 0) for k in known]
    other = sum(current.values()) - sum(cur_known)
    reference = np.array([*spec.counts.values(), spec.other_count, spec.null_count])
    observed = np.array([*cur_known, other, nulls])
    psi, js = _psi_js(reference, observed)
    statistic, p = _chi2_p(np.vstack([reference, observed]))
    unseen = sorted(set(current) - set(known))
    note = f"{len(unseen)} unseen categories" if unseen else "no unseen categories"
    return _Comparison(name, "categorical", psi, statistic, p, js, None, note)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC as the Mann–Whitney U statistic over ranks (ties get half credit)."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = stats.rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _performance(labels: np.ndarray, predictions: np.ndarray,
                 reference: Mapping[str, float] | None) -> dict[str, float]:
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if labels.size != predictions.size:
        raise InputError(f"{labels.size} labels for {predictions.size} predictions",
                         hint="pass one label per scored row (NaN where it has not arrived)")
    known = np.isfinite(labels) & np.isfinite(predictions)
    if not np.isin(labels[known], (0.0, 1.0)).all():
        raise InputError("labels must be 0 or 1 (or NaN where not yet known)",
                         hint="performance drift is measured as ROC AUC of a binary task")
    result = {"labelled_rows": float(known.sum())}
    auc = _auc(labels[known], predictions[known])
    if auc is not None:
        result["auc_current"] = auc
        if reference is not None and "auc" in reference:
            result["auc_reference"] = float(reference["auc"])
            result["auc_drop"] = result["auc_reference"] - auc
    return result


def _decide(c: _Comparison, p_adjusted: float, critical: bool, *, psi_threshold: float,
            min_effect: float, p_value: float) -> FeatureDrift:
    significant = p_adjusted < p_value
    material = c.psi >= psi_threshold or c.jensen_shannon >= min_effect
    size = f"PSI {c.psi:.3f} ({'>=' if c.psi >= psi_threshold else '<'} {psi_threshold}), " \
           f"JS {c.jensen_shannon:.3f} ({'>=' if c.jensen_shannon >= min_effect else '<'} {min_effect})"
    test = f"p_adj {p_adjusted:.2g} ({'<' if significant else '>='} {p_value})"
    verdict = ("drifted" if significant and material else
               "significant but immaterial" if significant else
               "material but not significant" if material else "stable")
    return FeatureDrift(c.name, c.kind, c.psi, c.statistic, c.p_value, p_adjusted, c.jensen_shannon,
                        c.wasserstein, significant and material, critical,
                        f"{verdict}: {test}; {size}; {c.note}")


def detect_drift(profile: ReferenceProfile, current: pl.DataFrame, *,
                 current_predictions: np.ndarray | None = None, psi_threshold: float = 0.2,
                 share_threshold: float = 0.3, p_value: float = 0.01, critical: Sequence[str] = (),
                 min_effect: float = 0.1, labels: np.ndarray | None = None,
                 reference_performance: Mapping[str, float] | None = None,
                 max_auc_drop: float = 0.05, scored_predictions: np.ndarray | None = None) -> DriftReport:
    """Compare ``current`` (and the model's predictions on it) with ``profile``; see the module doc.

    ``labels`` belong to ``current_predictions`` unless ``scored_predictions`` is given: the stored
    batch scores whose labels have arrived since, which is how performance is usually measured.
    """
    critical = (critical,) if isinstance(critical, str) else tuple(critical)
    if current.height == 0:
        raise InputError("the current window has no rows, so drift cannot be measured",
                         hint="check the window length and that the store received data for it")
    missing = [name for name in profile.features if name not in current.columns]
    unknown = [name for name in critical if name not in profile.features]
    if missing or unknown:
        raise InputError(f"columns missing from the current window: {missing}; critical features "
                         f"not in the profile: {unknown}", hint="monitor the features the model was trained on")
    comparisons = []
    for name, spec in profile.features.items():
        if isinstance(spec, NumericProfile):
            comparisons.append(_compare_numeric(name, "numeric", spec, *finite_values(current[name], name=name)))
        else:
            comparisons.append(_compare_categorical(name, spec, current[name]))
    predictions = None
    if current_predictions is not None:
        if profile.prediction is None:
            raise InputError("predictions were given but the profile has no prediction distribution",
                             hint="build the profile with the model's predictions on the training set")
        predictions = np.asarray(current_predictions, dtype=np.float64).ravel()
        if predictions.size != current.height:
            raise InputError(f"{predictions.size} predictions for {current.height} rows",
                             hint="pass one prediction per row of the current window")
        comparisons.append(_compare_numeric("prediction", "prediction", profile.prediction,
                                            *finite_values(predictions, name="prediction")))
    adjusted = stats.false_discovery_control([c.p_value for c in comparisons], method="bh")
    decided = [_decide(c, float(p), c.name in critical and c.kind != "prediction", psi_threshold=psi_threshold,
                       min_effect=min_effect, p_value=p_value) for c, p in zip(comparisons, adjusted)]
    features = tuple(d for d in decided if d.kind != "prediction")
    prediction = next((d for d in decided if d.kind == "prediction"), None)
    performance = None
    if labels is not None:
        scored = np.asarray(scored_predictions, dtype=np.float64).ravel() if scored_predictions is not None \
            else predictions
        if scored is None:
            raise InputError("labels were given without the predictions they belong to",
                             hint="pass current_predictions or scored_predictions")
        performance = _performance(labels, scored, reference_performance)
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    drifted = (share >= share_threshold or any(f.drifted and f.critical for f in features)
               or (prediction is not None and prediction.drifted)
               or (performance is not None and performance.get("auc_drop", 0.0) > max_auc_drop))
    rule = (f"the dataset drifts when at least {share_threshold:.0%} of {len(features)} features drift, "
            f"or a critical feature ({', '.join(critical) or 'none named'}) drifts, or the predictions drift, "
            f"or AUC drops by more than {max_auc_drop}; a feature drifts when its KS/chi-square test has "
            f"p < {p_value} after Benjamini–Hochberg correction over {len(decided)} tests and its shift is "
            f"material (PSI >= {psi_threshold} or Jensen–Shannon distance >= {min_effect})")
    return DriftReport(drifted=bool(drifted), features=features, prediction=prediction, share_drifted=share,
                       rule=rule, reference_rows=profile.rows, current_rows=current.height,
                       performance=performance)
