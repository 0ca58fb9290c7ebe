"""Reference profiles: what the training data looked like, kept small enough to sign and store.

At training time :func:`build_profile` summarises every feature of the training frame (and the
model's predictions on it) into a :class:`ReferenceProfile` that the registry stores, signed, next
to the model version; the drift monitor later compares a current window against it without ever
reading the training data again. A numeric feature keeps its quantile bin edges and counts (for
PSI and Jensen–Shannon), 101 percentiles with the *exact* reference CDF at each (for the
Kolmogorov–Smirnov and Wasserstein approximations in :mod:`monitoring.statistics`) and its null count; a
categorical feature keeps its most frequent categories' counts, one "other" count for the rest,
and its null count. NaN and ±inf count as nulls: JSON cannot carry them, and a profile of them
would say nothing. This module also owns how *current* values are read into the same shape
(:func:`finite_values`, :func:`category_counts`), so that both sides are always treated alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from driftline.canonical import canonical_json
from driftline.errors import InputError

PROFILE_FORMAT = "driftline.reference_profile/1"
PERCENTILES = 101
MAX_CATEGORIES = 50


@dataclass(frozen=True)
class NumericProfile:
    """A numeric column: PSI bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` and percentiles.

    ``counts`` has ``len(edges) + 1`` entries over the non-null values; ``quantiles`` are the
    values at levels 0, 0.01, ..., 1 and ``cdf[k]`` is the exact share of non-null reference
    values ``<= quantiles[k]``. ``n`` counts every row, nulls included. A column with no value
    at all has no edges, one empty bin and no quantiles.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    quantiles: tuple[float, ...]
    cdf: tuple[float, ...]
    null_count: int
    n: int

    def __post_init__(self) -> None:
        for name in ("edges", "counts", "quantiles", "cdf"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.counts) != len(self.edges) + 1 or len(self.quantiles) != len(self.cdf):
            raise InputError("numeric profile is malformed: bins and edges, or quantiles and CDF, disagree",
                             hint="rebuild the reference profile with build_profile")
        if sum(self.counts) + self.null_count != self.n or any(c < 0 for c in self.counts):
            raise InputError(f"numeric profile is malformed: counts {sum(self.counts)} + nulls "
                             f"{self.null_count} do not add up to {self.n} rows",
                             hint="rebuild the reference profile with build_profile")

    @property
    def non_null(self) -> int:
        return self.n - self.null_count

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct points (percentiles and bin edges) with the reference's exact CDF at each.

        Both stored point sets carry exact cumulative shares, so where a percentile and an edge
        coincide they agree, and keeping either is right.
        """
        if self.non_null == 0:
            return np.empty(0), np.empty(0)
        cum_edges = np.cumsum(self.counts)[:-1] / self.non_null
        points = np.concatenate([np.asarray(self.quantiles, float), np.asarray(self.edges, float)])
        shares = np.concatenate([np.asarray(self.cdf, float), cum_edges])
        order = np.argsort(points, kind="stable")
        points, shares = points[order], shares[order]
        keep = np.r_[True, np.diff(points) > 0]
        return points[keep], shares[keep]


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical column: counts of its most frequent categories, ``other`` for the rest, nulls."""

    counts: Mapping[str, int]
    other_count: int
    null_count: int
    n: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", dict(sorted(self.counts.items())))
        if sum(self.counts.values()) + self.other_count + self.null_count != self.n:
            raise InputError("categorical profile is malformed: its counts do not add up to its rows",
                             hint="rebuild the reference profile with build_profile")


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference side of drift monitoring for one model version.

    Round-trip law: ``ReferenceProfile.from_json(p.to_json()) == p``, and ``to_json`` is canonical
    JSON, so equal profiles have equal bytes (and equal signatures).
    """

    features: Mapping[str, NumericProfile | CategoricalProfile]
    prediction: NumericProfile | None
    rows: int
    target: NumericProfile | None = None  # the label of a regression model (target drift)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", dict(self.features))

    def to_dict(self) -> dict[str, Any]:
        def encode(spec: NumericProfile | CategoricalProfile) -> dict[str, Any]:
            if isinstance(spec, NumericProfile):
                return {"kind": "numeric", "edges": list(spec.edges), "counts": list(spec.counts),
                        "quantiles": list(spec.quantiles), "cdf": list(spec.cdf),
                        "null_count": spec.null_count, "n": spec.n}
            return {"kind": "categorical", "counts": dict(spec.counts), "other_count": spec.other_count,
                    "null_count": spec.null_count, "n": spec.n}
        data: dict[str, Any] = {
            "format": PROFILE_FORMAT, "rows": self.rows,
            "features": {name: encode(spec) for name, spec in self.features.items()},
            "prediction": encode(self.prediction) if self.prediction is not None else None}
        if self.target is not None:  # absent otherwise: profiles signed before it keep their bytes
            data["target"] = encode(self.target)
        return data

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ReferenceProfile":
        def decode(raw: Mapping[str, Any]) -> NumericProfile | CategoricalProfile:
            fields = {k: v for k, v in raw.items() if k != "kind"}
            if raw["kind"] == "numeric":
                return NumericProfile(**fields)
            if raw["kind"] == "categorical":
                return CategoricalProfile(**fields)
            raise KeyError(f"kind {raw['kind']!r}")
        if data.get("format") != PROFILE_FORMAT:
            raise InputError(f"reference profile has format {data.get('format')!r}, expected {PROFILE_FORMAT!r}",
                             hint="rebuild the reference profile with this version of driftline")
        try:
            prediction = decode(data["prediction"]) if data["prediction"] is not None else None
            if prediction is not None and not isinstance(prediction, NumericProfile):
                raise KeyError("prediction must be numeric")
            target = decode(data["target"]) if data.get("target") is not None else None
            if target is not None and not isinstance(target, NumericProfile):
                raise KeyError("target must be numeric")
            return cls(features={name: decode(raw) for name, raw in data["features"].items()},
                       prediction=prediction, rows=int(data["rows"]), target=target)
        except (KeyError, TypeError) as exc:
            raise InputError(f"reference profile is malformed: {exc}",
                             hint="rebuild the reference profile with build_profile") from exc

    @classmethod
    def from_json(cls, data: bytes) -> "ReferenceProfile":
        try:
            return cls.from_dict(json.loads(data))
        except (ValueError, AttributeError) as exc:
            raise InputError(f"reference profile is not valid JSON: {exc}",
                             hint="rebuild the reference profile with build_profile") from exc


def finite_values(series: pl.Series | np.ndarray, *, name: str) -> tuple[np.ndarray, int]:
    """The finite values of a numeric column as float64, and how many rows were null/NaN/inf."""
    if isinstance(series, pl.Series):
        if not (series.dtype.is_numeric() or series.dtype == pl.Boolean or series.dtype == pl.Null):
            raise InputError(f"column {name!r} has dtype {series.dtype}, not a number",
                             hint="profile it as categorical, or cast it to a number first")
        values = series.cast(pl.Float64).to_numpy()
    else:
        values = np.asarray(series, dtype=np.float64).ravel()
    finite = np.isfinite(values)
    if finite.all():
        return values, 0
    return values[finite], int(values.size - finite.sum())


def prediction_values(predictions: np.ndarray) -> np.ndarray:
    """A model's predictions as one number per row, on both sides of the comparison: a binary
    model's P(class 1) and a regression model's value as they are; a multiclass model's (n, k)
    probabilities as the predicted class's index, so its drift is the predicted-class distribution."""
    values = np.asarray(predictions, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] > 1:
        classes: np.ndarray = np.argmax(np.nan_to_num(values, nan=-1.0), axis=1).astype(np.float64)
        return classes
    return values.ravel()


def category_counts(series: pl.Series) -> tuple[dict[str, int], int]:
    """Counts per category (as text) and the null count of one column."""
    text = series.cast(pl.String)
    counts = text.value_counts()
    nulls = text.null_count()
    keys, values = counts[counts.columns[0]].to_list(), counts["count"].to_list()
    return {k: int(v) for k, v in zip(keys, values, strict=True) if k is not None}, nulls


def _quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Interpolated quantiles; where interpolating between values near the float limits overflows,
    the nearest order statistic instead (a profile must stay finite to be JSON and signed)."""
    with np.errstate(over="ignore", invalid="ignore"):
        result: np.ndarray = np.quantile(ordered, q)
    if not np.isfinite(result).all():
        result = np.quantile(ordered, q, method="inverted_cdf")
    return result


def _numeric_profile(values: np.ndarray, nulls: int, bins: int) -> NumericProfile:
    n = values.size + nulls
    if values.size == 0:
        return NumericProfile(edges=(), counts=(0,), quantiles=(), cdf=(), null_count=nulls, n=n)
    ordered = np.sort(values)
    edges = np.unique(_quantiles(ordered, np.arange(1, bins) / bins))
    cum = np.searchsorted(ordered, edges, side="right")
    counts = np.diff(np.concatenate([[0], cum, [ordered.size]]))
    quantiles = _quantiles(ordered, np.linspace(0.0, 1.0, PERCENTILES))
    cdf = np.searchsorted(ordered, quantiles, side="right") / ordered.size
    return NumericProfile(edges=tuple(edges.tolist()), counts=tuple(int(c) for c in counts),
                          quantiles=tuple(quantiles.tolist()), cdf=tuple(cdf.tolist()), null_count=nulls, n=n)


def _categorical_profile(series: pl.Series, max_categories: int) -> CategoricalProfile:
    counts, nulls = category_counts(series)
    # Most frequent first, ties by name, so the kept set does not depend on hash order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:max_categories])
    other = sum(c for _, c in ranked[max_categories:])
    return CategoricalProfile(counts=kept, other_count=other, null_count=nulls, n=series.len())


def build_profile(frame: pl.DataFrame, *, numeric: Sequence[str], categorical: Sequence[str],
                  predictions: np.ndarray | None = None, target: np.ndarray | None = None, bins: int = 10,
                  max_categories: int = MAX_CATEGORIES) -> ReferenceProfile:
    """Profile ``frame``'s named columns (and the model's ``predictions`` on its rows, and the
    regression ``target``, if given; multiclass predictions as :func:`prediction_values`)."""
    if frame.height == 0:
        raise InputError("cannot profile an empty frame: it has no rows",
                         hint="profile the training set the model was fitted on")
    if bins < 2 or max_categories < 1:
        raise InputError(f"bins={bins} and max_categories={max_categories} are too small",
                         hint="use bins >= 2 and max_categories >= 1")
    both = set(numeric) & set(categorical)
    if both:
        raise InputError(f"columns {sorted(both)} are named both numeric and categorical",
                         hint="name each column once")
    missing = [c for c in (*numeric, *categorical) if c not in frame.columns]
    if missing:
        raise InputError(f"columns {missing} are not in the frame (it has {frame.columns})",
                         hint="check the feature list against the training set")
    features: dict[str, NumericProfile | CategoricalProfile] = {}
    for name in numeric:
        features[name] = _numeric_profile(*finite_values(frame[name], name=name), bins)
    for name in categorical:
        features[name] = _categorical_profile(frame[name], max_categories)
    prediction = None
    if predictions is not None:
        values, nulls = finite_values(prediction_values(predictions), name="prediction")
        if values.size + nulls != frame.height:
            raise InputError(f"{values.size + nulls} predictions for {frame.height} rows",
                             hint="pass one prediction per row of the frame")
        prediction = _numeric_profile(values, nulls, bins)
    target_profile = None
    if target is not None:
        values, nulls = finite_values(np.asarray(target, dtype=np.float64), name="target")
        if values.size + nulls != frame.height:
            raise InputError(f"{values.size + nulls} target values for {frame.height} rows",
                             hint="pass the label of every row of the frame")
        target_profile = _numeric_profile(values, nulls, bins)
    return ReferenceProfile(features=features, prediction=prediction, rows=frame.height, target=target_profile)
