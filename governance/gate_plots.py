"""The gate report's plots: candidate against champion on the holdout the gate decided on.

:class:`PlotEvidence` is made once, where the gate's :class:`Evidence` is made
(:func:`usecases.train.measure_candidate`): the very evidence object the gate evaluated (holdout
labels, both models' scores aligned with them, segments, the binary threshold) plus the
candidate's feature importance. :func:`gate_plots` draws from it and from the :class:`GateReport`
and nothing else: the metrics printed on a plot are the evidence's holdout metrics or the checks'
observed values, so a plot never shows a number the gate did not decide on; the curves are
drawings of the same scores. Which plots a task gets is :data:`PLOTS` (one stable id each, the
``id="plot-<name>"`` of its figure in the HTML). A plot without its data (no champion, no
segments) is a figure that says so, so every task's page has all its plots.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from driftline.errors import InputError
from driftline.figures import BAD, CANDIDATE, CHAMPION, empty_svg, figure_svg, label
from governance.evidence import Evidence
from governance.gate_report import CheckResult, GateReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOTS: Mapping[str, tuple[str, ...]] = {
    "binary": ("roc", "precision_recall", "calibration", "score_distribution", "confusion_matrix",
               "feature_importance", "segments"),
    "multiclass": ("per_class", "confusion_matrix", "score_distribution", "feature_importance", "segments"),
    "regression": ("predicted_vs_actual", "residuals", "feature_importance", "segments"),
}
TITLES: Mapping[str, str] = {
    "roc": "ROC curve", "precision_recall": "Precision-recall curve", "calibration": "Calibration",
    "score_distribution": "Score distribution by class", "confusion_matrix": "Confusion matrix",
    "per_class": "Per-class recall", "predicted_vs_actual": "Predicted against actual",
    "residuals": "Residuals", "feature_importance": "Feature importance (gain)",
    "segments": "Per-segment metrics",
}
_CURVE_POINTS = 300
_MAX_POINTS = 2_000  # scatter points drawn (every n-th row): the SVG stays small on big holdouts


@dataclass(frozen=True, eq=False)
class PlotEvidence:
    """The gate's evidence as the plots need it: ``evidence`` is the object the gate evaluated;
    ``importance`` the candidate's total gain per feature; ``classes`` the label values, in the
    order of the scores' columns (multiclass) or (negative, positive) (binary)."""

    evidence: Evidence
    importance: Mapping[str, float] = field(default_factory=dict)
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [k for k, v in self.importance.items() if not math.isfinite(v)]
        if bad:
            raise InputError(f"feature importance of {bad} is not finite",
                             hint="pass the booster's gain per feature")
        object.__setattr__(self, "importance", dict(self.importance))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))


def gate_plots(report: GateReport, plots: PlotEvidence) -> Mapping[str, str]:
    """Plot name -> inline ``<svg>`` element, in :data:`PLOTS` order for the evidence's task."""
    e = plots.evidence
    if report.task is not None and report.task != e.task:
        raise InputError(f"the gate report is for a {report.task} task, the evidence for {e.task}",
                         hint="plot the evidence the report was decided on")
    draw = {"roc": _roc, "precision_recall": _precision_recall, "calibration": _calibration,
            "score_distribution": _scores, "confusion_matrix": _confusion, "per_class": _per_class,
            "predicted_vs_actual": _predicted_vs_actual, "residuals": _residuals,
            "feature_importance": _importance, "segments": _segments}
    return {name: draw[name](report, plots) for name in PLOTS[e.task]}


def _arrays(e: Evidence) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    if e.y_true is None or e.candidate_scores is None or len(e.y_true) == 0:
        return None
    champ = None if e.champion_scores is None else np.asarray(e.champion_scores, float)
    return np.asarray(e.y_true, float), np.asarray(e.candidate_scores, float), champ


def _both(e: Evidence, s: np.ndarray, c: np.ndarray | None) -> list[tuple[str, np.ndarray, str, Mapping[str, float]]]:
    out = [("candidate", s, CANDIDATE, e.candidate)]
    if c is not None:
        out.append(("champion", c, CHAMPION, e.champion or {}))
    return out


def _metric(metrics: Mapping[str, float], name: str) -> str:
    value = metrics.get(name)
    return "n/a" if value is None else f"{value:.4f}"


def _curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives as the cut falls through the distinct scores."""
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]  # the last row of each distinct score
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    # At most _CURVE_POINTS cut points, ends kept: the eye cannot tell more, and the SVG stays small.
    keep = np.unique(np.linspace(0, len(last) - 1, min(len(last), _CURVE_POINTS)).astype(int))
    return tp[keep], fp[keep], ss[last][keep]


def _roc(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and scores in the evidence")
    y, s, c = a

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for who, scores, colour, metrics in _both(p.evidence, s, c):
            tp, fp, _ = _curve(y, scores)
            ax.plot(np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)], color=colour,
                    label=f"{who} (AUC {_metric(metrics, 'auc')})")
        ax.plot([0, 1], [0, 1], ls=":", color="#bbb")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower right")
    return figure_svg(draw)


def _precision_recall(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and scores in the evidence")
    y, s, c = a

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for who, scores, colour, _ in _both(p.evidence, s, c):
            tp, fp, _ = _curve(y, scores)
            ax.plot(tp / max(tp[-1], 1), tp / np.maximum(tp + fp, 1), color=colour, label=who)
        ax.axhline(float(np.mean(y)), ls=":", color="#bbb", label=f"base rate {np.mean(y):.1%}")
        if (prec := _check(report, "precision at threshold")) is not None and prec.observed is not None:
            rec = _check(report, "recall at threshold")
            if rec is not None and rec.observed is not None:
                ax.plot([rec.observed], [prec.observed], "o", color=BAD,
                        label=f"threshold: precision {prec.observed:.1%}, recall {rec.observed:.1%}")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower left")
    return figure_svg(draw)


def _calibration(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and scores in the evidence")
    y, s, c = a
    ece = _check(report, "calibration ece")

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        edges = np.linspace(0, 1, 11)
        for who, scores, colour, metrics in _both(p.evidence, s, c):
            bins = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)
            kept = [b for b in range(10) if np.any(bins == b)]
            extra = f", ECE {ece.observed:.4f}" if who == "candidate" and ece and ece.observed is not None else ""
            ax.plot([scores[bins == b].mean() for b in kept], [y[bins == b].mean() for b in kept], "o-",
                    color=colour, label=f"{who} (Brier {_metric(metrics, 'brier')}{extra})")
        ax.plot([0, 1], [0, 1], ls=":", color="#bbb", label="perfectly calibrated")
        ax.set(xlabel="mean predicted P(class 1), 10 bins", ylabel="observed share of class 1",
               xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="upper left")
    return figure_svg(draw)


def _scores(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and scores in the evidence")
    y, s, c = a
    names = p.classes or ()
    multi = s.ndim == 2

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        rows = np.arange(len(y))
        for who, scores, colour, _ in _both(p.evidence, s, c):
            value = scores[rows, y.astype(int)] if multi else scores
            for k in ((0,) if multi else (0, 1)):
                part = value if multi else value[y == k]
                name = "true class" if multi else label(names[k] if len(names) == 2 else k)
                ax.hist(part, bins=np.linspace(0, 1, 21).tolist(), histtype="step", lw=1.5, color=colour,
                        ls="-" if k == 1 or multi else "--", density=True, label=f"{who}, {name}")
        if p.evidence.threshold is not None:
            ax.axvline(p.evidence.threshold, color=BAD, ls=":", label=f"threshold {p.evidence.threshold:.4f}")
        ax.set(xlabel="P(true class)" if multi else "score P(class 1)", ylabel="density")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=7, frameon=False)
    return figure_svg(draw)


def _confusion(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and scores in the evidence")
    y, s, _ = a
    if s.ndim == 2:
        k = s.shape[1]
        predicted, actual = s.argmax(axis=1), y.astype(int)
        names = p.classes if len(p.classes) == k else tuple(str(i) for i in range(k))
        caption = "candidate, most probable class"
    elif p.evidence.threshold is None:
        return empty_svg("no decision threshold in the evidence")
    else:
        k, names = 2, p.classes if len(p.classes) == 2 else ("0", "1")
        predicted, actual = (s >= p.evidence.threshold).astype(int), y.astype(int)
        caption = f"candidate at threshold {p.evidence.threshold:.4f}"
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (actual, predicted), 1)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.imshow(matrix, cmap="Blues")
        for (i, j), n in np.ndenumerate(matrix):
            ax.text(j, i, f"{n:,}", ha="center", va="center",
                    color="white" if n > matrix.max() / 2 else "black")
        ticks = [label(n, 14) for n in names]
        ax.set_xticks(range(k), ticks, rotation=30 if k > 3 else 0)
        ax.set_yticks(range(k), ticks)
        ax.set(xlabel=f"predicted ({caption})", ylabel="actual")
    return figure_svg(draw, size=(5.0, 4.0))


def _per_class(report: GateReport, p: PlotEvidence) -> str:
    checks = [c for c in report.checks if c.name.startswith("class recall=")]
    if not checks:
        return empty_svg("no per-class recall checks in the gate report")
    names = [label(p.classes[int(c.name.split("=", 1)[1])] if len(p.classes) > int(c.name.split("=", 1)[1])
                   else c.name.split("=", 1)[1], 16) for c in checks]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        values = [c.observed if c.observed is not None else 0.0 for c in checks]
        bars = ax.bar(range(len(checks)), values, color=[CANDIDATE if c.passed else BAD for c in checks])
        ax.bar_label(bars, [f"{v:.1%}" for v in values], fontsize=8)
        ax.axhline(_bound(checks[0]) or 0.0, color=BAD, ls=":", label=f"floor {checks[0].expected}")
        ax.set_xticks(range(len(checks)), names, rotation=30 if len(checks) > 4 else 0)
        ax.set(ylabel="candidate recall", ylim=(0, 1.1))
        ax.legend(loc="upper right")
    return figure_svg(draw)


def _predicted_vs_actual(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and predictions in the evidence")
    y, s, c = a
    step = max(1, len(y) // _MAX_POINTS)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for who, values, colour, metrics in _both(p.evidence, s, c):
            ax.scatter(y[::step], values[::step], s=6, alpha=0.5, color=colour,
                       label=f"{who} (RMSE {_metric(metrics, 'rmse')}, MAE {_metric(metrics, 'mae')})")
        low, high = float(min(y.min(), s.min())), float(max(y.max(), s.max()))
        ax.plot([low, high], [low, high], ls=":", color="#bbb")
        ax.set(xlabel="actual", ylabel="predicted")
        ax.legend(loc="upper left")
    return figure_svg(draw)


def _residuals(report: GateReport, p: PlotEvidence) -> str:
    if (a := _arrays(p.evidence)) is None:
        return empty_svg("no holdout labels and predictions in the evidence")
    y, s, c = a

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        parts = _both(p.evidence, s, c)
        spread = np.concatenate([v - y for _, v, _, _ in parts])
        bins = np.linspace(float(spread.min()), float(spread.max()) + 1e-9, 31)
        for who, values, colour, _ in parts:
            ax.hist(values - y, bins=bins.tolist(), histtype="step", lw=1.5, color=colour, label=who)
        ax.axvline(0, color="#bbb", ls=":")
        ax.set(xlabel="residual (predicted - actual)", ylabel="rows")
        ax.legend(loc="upper right")
    return figure_svg(draw)


def _importance(report: GateReport, p: PlotEvidence) -> str:
    if not p.importance:
        return empty_svg("no feature importance recorded for the candidate")
    top = sorted(p.importance.items(), key=lambda kv: (-kv[1], kv[0]))[:20][::-1]
    total = sum(p.importance.values()) or 1.0

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        bars = ax.barh(range(len(top)), [v / total for _, v in top], color=CANDIDATE)
        ax.bar_label(bars, [f"{v / total:.1%}" for _, v in top], fontsize=8)
        ax.set_yticks(range(len(top)), [label(k) for k, _ in top])
        ax.set(xlabel="share of the candidate's total gain")
    return figure_svg(draw, size=(6.4, 0.6 + 0.25 * len(top)))


def _check(report: GateReport, name: str) -> CheckResult | None:
    return next((c for c in report.checks if c.name == name), None)


def _bound(check: CheckResult) -> float | None:
    found = re.search(r"[<>]= (-?[0-9.eE+-]+)", check.expected)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def segment_checks(report: GateReport, column: str) -> dict[str, list[tuple[str, CheckResult]]]:
    """The report's per-segment checks of ``column`` on the candidate (absolute bounds and the
    regression residual), by metric: [(segment value, check)]. Champion comparisons are left
    out: their observed value is the same candidate metric."""
    out: dict[str, list[tuple[str, CheckResult]]] = {}
    marker = f" by {column}="
    for check in report.checks:
        metric, sep, value = check.name.partition(marker)
        if sep and " " not in metric and not check.name.endswith("vs champion"):
            out.setdefault(metric, []).append((value, check))
    return out


def _segments(report: GateReport, p: PlotEvidence) -> str:
    segments = p.evidence.segments or {}
    panels = [(column, metric, rows) for column in segments
              for metric, rows in segment_checks(report, column).items()]
    if not panels:
        return empty_svg("no segment checks: set gate slice_columns to check segments")

    def draw(fig: Figure) -> None:
        axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        for ax, (column, metric, rows) in zip(axes, panels, strict=True):
            values = np.asarray(segments[column]).astype(str)
            counts = [int(np.sum(values == v)) for v, _ in rows]
            heights = [c.observed if isinstance(c.observed, (int, float)) else 0.0 for _, c in rows]
            bars = ax.bar(range(len(rows)), heights, color=[CANDIDATE if c.passed else BAD for _, c in rows])
            ax.bar_label(bars, [f"{h:.4f}\nn={n:,}" for h, n in zip(heights, counts, strict=True)], fontsize=7)
            if (bound := _bound(rows[0][1])) is not None:
                ax.axhline(bound, color=BAD, ls=":", label=f"bound {rows[0][1].expected}")
                ax.legend(loc="lower right", fontsize=7)
            ax.set_xticks(range(len(rows)), [label(v, 16) for v, _ in rows])
            ax.set_title(f"{label(metric)} by {label(column)} (candidate; n = holdout rows)")
            ax.margins(y=0.25)
    return figure_svg(draw, size=(6.4, 0.4 + 2.4 * len(panels)))


def gate_page(report: GateReport, plots: PlotEvidence | None, *, version: int | None = None,
              links: Mapping[str, str] | None = None) -> str:
    """The gate report's HTML with its plots (none without ``plots``: an old caller's page)."""
    figures = {n: (TITLES[n], svg) for n, svg in gate_plots(report, plots).items()} if plots else {}
    return report.to_html(version=version, figures=figures, links=links)
