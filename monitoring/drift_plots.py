"""The drift report's plots: distributions, each feature's statistic against its threshold, history.

Every plot draws a value the monitor decided on: the bins and shares are those the statistics used
(:func:`monitoring.drift_report.histogram`), the summary chart the :class:`DriftReport`'s PSI and
Jensen–Shannon distance of each feature against the :class:`DriftPolicy` thresholds the verdict
applied, and the history the ``drift.verdict`` entries of past monitor runs (:class:`DriftPoint`,
read from the audit trail by :func:`usecases.monitor.drift_history`). Figures are inline SVG from
:mod:`driftline.figures` (deterministic, text escaped); bin labels are rotated when they would
collide, and every axis says what it counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from driftline.errors import InputError
from driftline.figures import BAD, CANDIDATE, CURRENT, REFERENCE, empty_svg, figure_svg, label
from monitoring.drift import DriftPolicy, DriftReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_HISTORY_FEATURES = 8  # lines on the per-feature history chart: the features that moved most


@dataclass(frozen=True)
class DriftPoint:
    """One past monitor run of a model, as its ``drift.verdict`` audit entry recorded it: ``psi``
    per feature only in entries written since it was recorded (empty for older ones)."""

    time: str
    version: int
    window: str
    drifted: bool
    share_drifted: float
    psi: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.share_drifted <= 1:
            raise InputError(f"drift point share {self.share_drifted} is not a share in [0, 1]",
                             hint="read points from drift.verdict audit entries")
        object.__setattr__(self, "psi", {str(k): float(v) for k, v in self.psi.items()})


def distribution_svg(labels: Sequence[str], reference: np.ndarray, current: np.ndarray, *,
                     what: str) -> str:
    """Reference against current shares over the statistics' bins, one pair of bars per bin."""
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        x = np.arange(len(labels))
        ax.bar(x - 0.2, reference, 0.4, color=REFERENCE, label="reference (training rows)")
        ax.bar(x + 0.2, current, 0.4, color=CURRENT, label="current window")
        long = len(labels) > 6 or max((len(t) for t in labels), default=0) > 10
        ax.set_xticks(x, [label(t, 18) for t in labels], rotation=35 if long else 0,
                      ha="right" if long else "center")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set(xlabel=f"{label(what, 40)} (bins of the drift statistics)", ylabel="share of rows")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)  # above the bars
    return figure_svg(draw, size=(6.4, 3.4))


def summary_svg(report: DriftReport, policy: DriftPolicy) -> str:
    """Each feature's (and the predictions') PSI and Jensen–Shannon distance against the
    thresholds of the rule; drifted features in red."""
    rows = [*report.features, *(r for r in (report.prediction, report.target) if r is not None)]
    if not rows:
        return empty_svg("no features in the report")

    def draw(fig: Figure) -> None:
        psi_ax, js_ax = fig.subplots(1, 2, sharey=True)
        y = np.arange(len(rows))[::-1]
        colours = [BAD if f.drifted else CANDIDATE for f in rows]
        for ax, values, limit, name in ((psi_ax, [f.psi for f in rows], policy.psi_threshold, "PSI"),
                                        (js_ax, [f.jensen_shannon for f in rows], policy.min_effect,
                                         "Jensen–Shannon distance")):
            bars = ax.barh(y, values, color=colours)
            ax.bar_label(bars, [f"{v:.3f}" for v in values], fontsize=7, padding=2)
            ax.axvline(limit, color=BAD, ls=":", label=f"threshold {limit:g}")
            ax.set(xlabel=name)
            ax.margins(x=0.2)
            ax.legend(loc="lower right", fontsize=7)
        psi_ax.set_yticks(y, [label(f.name) for f in rows])
    return figure_svg(draw, size=(6.4, 1.0 + 0.28 * len(rows)))


def history_svg(points: Sequence[DriftPoint]) -> str:
    """The verdicts and share of drifted features of past runs, and the PSI of the features
    that moved most, in the order the runs happened."""
    if not points:
        return empty_svg("no past monitor runs of this model in the audit trail")
    with_psi = [p for p in points if p.psi]
    names = sorted({n for p in with_psi for n in p.psi},
                   key=lambda n: (-max(p.psi.get(n, 0.0) for p in with_psi), n))[:_HISTORY_FEATURES]

    def draw(fig: Figure) -> None:
        axes = fig.subplots(2 if names else 1, 1, sharex=True, squeeze=False)[:, 0]
        x = np.arange(len(points))
        top = axes[0]
        top.plot(x, [p.share_drifted for p in points], color="#555", lw=1)
        top.scatter(x, [p.share_drifted for p in points], c=[BAD if p.drifted else "#1e7b34" for p in points],
                    zorder=3, label="red: drift detected, green: no drift")
        top.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        top.set(ylabel="features drifted", ylim=(-0.05, 1.05))
        top.legend(loc="upper left", fontsize=7)
        if names:
            bottom = axes[1]
            for name in names:
                bottom.plot(x, [p.psi.get(name, np.nan) for p in points], marker="o", ms=3, label=label(name, 20))
            bottom.set(ylabel="PSI")
            bottom.legend(loc="upper left", fontsize=7, ncols=2)
        axes[-1].set_xticks(x, [f"{p.time[:16].replace('T', ' ')}\nv{p.version}" for p in points],
                            rotation=35 if len(points) > 5 else 0, ha="right" if len(points) > 5 else "center",
                            fontsize=7)
        axes[-1].set_xlabel("monitor run (UTC time, champion version)")
    return figure_svg(draw, size=(6.4, 4.8 if names else 2.6))
