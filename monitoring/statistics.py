"""Drift statistics: one feature of the current window against its reference profile.

:func:`compare_numeric` bins the current values on the reference's quantile edges (nulls are a bin
of their own, empty bins count as ``PSI_EPSILON``) and gives PSI, the Jensen–Shannon distance (base
2, 0..1) over the same bins, a two-sample Kolmogorov–Smirnov test whose statistic is taken on the
profile's grid (101 percentiles plus the bin edges, where the reference CDF was stored exactly), so
it never exceeds the exact D and is below it by at most about one percentile step — a slightly
conservative test — and the Wasserstein-1 distance from the two quantile functions. A numeric
feature whose null rate can differ is also given a 2x2 chi-square on its null share, and the two
p-values are Bonferroni-combined. :func:`compare_categorical` tests homogeneity by chi-square over
the reference's categories, "other" (unseen or rare) and null. The result is a
:class:`Comparison`: the statistics before :mod:`monitoring.drift`'s rule decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import kolmogorov

from monitoring.profile import CategoricalProfile, NumericProfile, category_counts

PSI_EPSILON = 1e-4
# Above this effective size the exact KS distribution and its asymptote agree to ~1e-6, and the
# exact one can take most of a second to evaluate.
KS_EXACT_LIMIT = 10_000
LEVELS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class Comparison:
    """A feature's statistics before the multiple-test correction decides."""

    name: str
    kind: Literal["numeric", "categorical", "prediction", "target"]
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


def compare_numeric(name: str, kind: Literal["numeric", "prediction", "target"], spec: NumericProfile,
                     values: np.ndarray, nulls: int) -> Comparison:
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
    return Comparison(name, kind, psi, statistic, p, js, wasserstein, note)


def compare_categorical(name: str, spec: CategoricalProfile, series: pl.Series) -> Comparison:
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
    return Comparison(name, "categorical", psi, statistic, p, js, None, note)
