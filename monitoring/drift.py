"""Drift rules: the verdict on a current window against a model version's reference profile.

:func:`detect_drift` asks :mod:`monitoring.statistics` for every profiled feature's comparison (and
the model's predictions', when given), and :mod:`monitoring.performance` for AUC on labelled batch
scores, then applies the :class:`DriftPolicy`.

The rule, chosen because tests alone flag trivial shifts on large windows and effect sizes alone
flag noise on small ones: a feature drifts only when its test is *significant* (p below
``p_value`` after Benjamini–Hochberg correction over every test in the report) **and** its shift
is *material* (PSI at least ``psi_threshold`` or Jensen–Shannon distance at least
``min_effect``). The dataset drifts when the share of drifted features reaches
``share_threshold``, or a critical feature drifts, or the predictions drift (a multiclass model's
predicted class), or a regression model's target (the labels that arrived) drifts, or AUC falls by
more than ``max_auc_drop``. Drift is a result (:class:`DriftReport`), never an exception; an empty
current window, however, is an :class:`~driftline.errors.InputError`: no rows is a broken pipeline
to fix, and calling it "no drift" would hide that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from driftline.canonical import canonical_json
from driftline.errors import ConfigError, InputError
from driftline.settings import DriftSettings
from monitoring.labels import LabelledScores
from monitoring.performance import measure_performance
from monitoring.profile import NumericProfile, ReferenceProfile, finite_values, prediction_values
from monitoring.statistics import Comparison, compare_categorical, compare_numeric


@dataclass(frozen=True)
class DriftPolicy:
    """The thresholds of the rule; built from :class:`DriftSettings` by :meth:`from_settings`, and
    refused when a threshold is out of range (a policy that cannot fire would hide drift)."""

    psi_threshold: float = 0.2
    share_threshold: float = 0.3
    p_value: float = 0.01
    critical: tuple[str, ...] = ()
    min_effect: float = 0.1
    max_auc_drop: float = 0.05

    def __post_init__(self) -> None:
        critical = (self.critical,) if isinstance(self.critical, str) else tuple(self.critical)
        object.__setattr__(self, "critical", critical)
        if not (self.psi_threshold > 0 and 0 < self.share_threshold <= 1 and 0 < self.p_value < 1
                and self.min_effect > 0 and self.max_auc_drop >= 0):
            raise ConfigError(f"drift policy out of range: {self}",
                              hint="psi_threshold > 0, 0 < share_threshold <= 1, 0 < p_value < 1, "
                                   "min_effect > 0, max_auc_drop >= 0")

    @classmethod
    def from_settings(cls, settings: DriftSettings) -> "DriftPolicy":
        return cls(psi_threshold=settings.psi_threshold, share_threshold=settings.share_threshold,
                   p_value=settings.p_value, critical=tuple(settings.critical_features),
                   max_auc_drop=settings.max_auc_drop)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison. ``statistic`` is KS D (numeric) or chi-square (categorical)."""

    name: str
    kind: Literal["numeric", "categorical", "prediction", "target"]
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
    target: FeatureDrift | None = None  # a regression label's distribution, when profiled and labels arrived

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
            if raw.get("target") is not None:
                raw["target"] = FeatureDrift(**raw["target"])
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"drift report is malformed: {exc}",
                             hint="read reports written by DriftReport.to_json") from exc


def _decide(c: Comparison, p_adjusted: float, critical: bool, policy: DriftPolicy) -> FeatureDrift:
    psi_threshold, min_effect, p_value = policy.psi_threshold, policy.min_effect, policy.p_value
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


def detect_drift(profile: ReferenceProfile, current: pl.DataFrame, policy: DriftPolicy = DriftPolicy(), *,
                 current_predictions: np.ndarray | None = None, labelled: LabelledScores | None = None,
                 reference_performance: Mapping[str, float] | None = None,
                 current_target: np.ndarray | None = None) -> DriftReport:
    """Compare ``current`` (and the model's predictions on it) with ``profile``; see the module doc.

    Multiclass predictions (n, k) are compared as the predicted class (:func:`prediction_values`);
    ``current_target``, the labels that arrived in the window, is compared with the profile's
    target (a regression model's label distribution) when the profile has one.

    ``labelled`` are scores whose labels have arrived: usually the stored batch scores matched by
    :func:`monitoring.labels.match_labels`; ``reference_performance`` holds the holdout's metrics
    (``auc``; a regression model's ``rmse``/``mae``, a multiclass model's ``accuracy``), measured per
    task by :func:`monitoring.performance.measure_performance`; only the binary AUC drop can drift.
    """
    critical = policy.critical
    if current.height == 0:
        raise InputError("the current window has no rows, so drift cannot be measured",
                         hint="check the window length and that the store received data for it")
    missing = [name for name in profile.features if name not in current.columns]
    unknown = [name for name in critical if name not in profile.features]
    if missing or unknown:
        raise InputError(f"columns missing from the current window: {missing}; critical features "
                         f"not in the profile: {unknown}", hint="monitor the features the model was trained on")
    comparisons: list[Comparison] = []
    for name, spec in profile.features.items():
        if isinstance(spec, NumericProfile):
            comparisons.append(compare_numeric(name, "numeric", spec, *finite_values(current[name], name=name)))
        else:
            comparisons.append(compare_categorical(name, spec, current[name]))
    if current_predictions is not None:
        if profile.prediction is None:
            raise InputError("predictions were given but the profile has no prediction distribution",
                             hint="build the profile with the model's predictions on the training set")
        predictions = prediction_values(current_predictions)
        if predictions.size != current.height:
            raise InputError(f"{predictions.size} predictions for {current.height} rows",
                             hint="pass one prediction per row of the current window")
        comparisons.append(compare_numeric("prediction", "prediction", profile.prediction,
                                           *finite_values(predictions, name="prediction")))
    if current_target is not None and profile.target is not None and np.asarray(current_target).size:
        comparisons.append(compare_numeric("target", "target", profile.target,
                                           *finite_values(np.asarray(current_target, np.float64), name="target")))
    adjusted = stats.false_discovery_control([c.p_value for c in comparisons], method="bh")
    decided = [_decide(c, float(p), c.name in critical and c.kind in ("numeric", "categorical"), policy)
               for c, p in zip(comparisons, adjusted, strict=True)]
    features = tuple(d for d in decided if d.kind not in ("prediction", "target"))
    prediction = next((d for d in decided if d.kind == "prediction"), None)
    target = next((d for d in decided if d.kind == "target"), None)
    performance = measure_performance(labelled, reference_performance) if labelled is not None else None
    share_threshold, max_auc_drop = policy.share_threshold, policy.max_auc_drop
    psi_threshold, min_effect, p_value = policy.psi_threshold, policy.min_effect, policy.p_value
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    drifted = (share >= share_threshold or any(f.drifted and f.critical for f in features)
               or (prediction is not None and prediction.drifted) or (target is not None and target.drifted)
               or (performance is not None and performance.get("auc_drop", 0.0) > max_auc_drop))
    rule = (f"the dataset drifts when at least {share_threshold:.0%} of {len(features)} features drift, "
            f"or a critical feature ({', '.join(critical) or 'none named'}) drifts, or the predictions "
            f"(or a regression target) drift, "
            f"or AUC drops by more than {max_auc_drop}; a feature drifts when its KS/chi-square test has "
            f"p < {p_value} after Benjamini–Hochberg correction over {len(decided)} tests and its shift is "
            f"material (PSI >= {psi_threshold} or Jensen–Shannon distance >= {min_effect})")
    return DriftReport(drifted=bool(drifted), features=features, prediction=prediction, share_drifted=share,
                       rule=rule, reference_rows=profile.rows, current_rows=current.height,
                       performance=performance, target=target)
