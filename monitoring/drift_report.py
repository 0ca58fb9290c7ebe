"""The drift report as one self-contained HTML page, written to ``reports/`` next to its JSON.

:func:`render_drift_html` turns a :class:`~monitoring.drift.DriftReport` into a page a person can
read offline: the verdict and the rule that produced it, performance when labels arrived, a summary
table of every feature's statistics and reason, and for each drifted feature (and drifted
predictions) an inline SVG bar chart of reference against current shares over the same bins the
statistics used. There are no scripts, fonts or external assets, so the file opens anywhere and can
be archived with an audit bundle; every string that came from data (feature names, categories,
reasons) is HTML-escaped, because feature names and categories are user input.
"""

from __future__ import annotations

from html import escape
from itertools import pairwise

import numpy as np
import polars as pl

from monitoring.drift import DriftReport, FeatureDrift
from monitoring.profile import CategoricalProfile, NumericProfile, ReferenceProfile, category_counts, finite_values
from monitoring.statistics import bin_counts

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f3f3f3}.drifted{background:#fde2e1}.verdict{font-size:1.3em;font-weight:bold}
.bad{color:#b3261e}.good{color:#1e7b34}figure{margin:1.5em 0}figcaption{font-size:13px;color:#555}
"""
_WIDTH, _HEIGHT, _MARGIN = 720, 260, 40


def histogram(spec: NumericProfile | CategoricalProfile, values: pl.Series | np.ndarray,
              *, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bin labels and reference/current shares over the bins the drift statistics used."""
    if isinstance(spec, NumericProfile):
        finite, nulls = finite_values(values, name=name)
        counts, _, _ = bin_counts(spec, finite)
        edges = [f"{e:.4g}" for e in spec.edges]
        labels = ([f"≤ {edges[0]}", *(f"({a}, {b}]" for a, b in pairwise(edges)), f"> {edges[-1]}"]
                  if edges else ["values"])
        reference, current = np.array([*spec.counts, spec.null_count]), np.append(counts, nulls)
    else:
        observed, nulls = category_counts(values if isinstance(values, pl.Series) else pl.Series(values))
        known = list(spec.counts)
        in_known = [observed.get(k, 0) for k in known]
        labels = known + ["other"]
        reference = np.array([*spec.counts.values(), spec.other_count, spec.null_count])
        current = np.array([*in_known, sum(observed.values()) - sum(in_known), nulls])
    labels.append("null")
    ref_total, cur_total = max(reference.sum(), 1), max(current.sum(), 1)
    return labels, reference / ref_total, current / cur_total


def _svg_bars(labels: list[str], reference: np.ndarray, current: np.ndarray) -> str:
    """Grouped bars, reference grey and current red; shares on a 0..max scale."""
    top = max(float(reference.max(initial=0)), float(current.max(initial=0)), 1e-9)
    plot_w, plot_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN
    slot = plot_w / len(labels)
    bar = slot * 0.4
    parts = [f'<svg width="{_WIDTH}" height="{_HEIGHT}" role="img">',
             f'<line x1="{_MARGIN}" y1="{_MARGIN + plot_h}" x2="{_WIDTH - _MARGIN}" y2="{_MARGIN + plot_h}" '
             'stroke="#888"/>',
             f'<text x="{_MARGIN}" y="{_MARGIN - 8}" font-size="11">max share {top:.1%}</text>']
    for i, (label, ref, cur) in enumerate(zip(labels, reference, current, strict=True)):
        x = _MARGIN + i * slot + slot * 0.1
        for offset, share, colour, who in ((0.0, ref, "#9e9e9e", "reference"), (bar, cur, "#d9534f", "current")):
            height = plot_h * float(share) / top
            parts.append(f'<rect x="{x + offset:.1f}" y="{_MARGIN + plot_h - height:.1f}" width="{bar:.1f}" '
                         f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: {who} '
                         f'{float(share):.2%}</title></rect>')
        parts.append(f'<text x="{x + bar:.1f}" y="{_MARGIN + plot_h + 14}" font-size="9" text-anchor="middle">'
                     f'{escape(label[:14])}</text>')
    parts.append(f'<text x="{_WIDTH - _MARGIN - 150}" y="{_MARGIN - 8}" font-size="11">'
                 '<tspan fill="#9e9e9e">■ reference</tspan> <tspan fill="#d9534f">■ current</tspan></text>')
    return "".join(parts) + "</svg>"


def _number(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _row(f: FeatureDrift) -> str:
    cells = [escape(f.name), f.kind, "yes" if f.drifted else "no", "yes" if f.critical else "",
             _number(f.psi, ".3f"), _number(f.statistic), _number(f.p_adjusted, ".2g"),
             _number(f.jensen_shannon, ".3f"), _number(f.wasserstein), escape(f.reason)]
    css = ' class="drifted"' if f.drifted else ""
    return f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_drift_html(report: DriftReport, profile: ReferenceProfile, current: pl.DataFrame, *,
                      current_predictions: np.ndarray | None = None, title: str = "Drift report") -> str:
    """Self-contained HTML: verdict, rule, summary table and one plot per drifted feature."""
    verdict = ('<span class="bad">drift detected</span>' if report.drifted
               else '<span class="good">no drift</span>')
    rows = [*report.features, *([report.prediction] if report.prediction is not None else [])]
    head = ("feature", "kind", "drifted", "critical", "PSI", "KS D / χ²", "p (BH)", "JS distance",
            "Wasserstein", "reason")
    html = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>",
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>",
            f'<p class="verdict">{verdict}: {len(report.drifted_features())} of {len(report.features)} '
            f"features drifted ({report.share_drifted:.0%})</p>",
            f"<p>Rule: {escape(report.rule)}.</p>",
            f"<p>Reference rows: {report.reference_rows:,}; current rows: {report.current_rows:,}.</p>"]
    if report.performance is not None:
        html.append("<h2>Performance</h2><table>" + "".join(
            f"<tr><th>{escape(k)}</th><td>{v:.4g}</td></tr>" for k, v in sorted(report.performance.items()))
            + "</table>")
    html.append("<h2>Features</h2><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
                + "".join(_row(f) for f in rows) + "</table>")
    plots = [f for f in rows if f.drifted]
    if plots:
        html.append("<h2>Drifted distributions</h2>")
    for f in plots:
        if f.kind == "prediction":
            if current_predictions is None or profile.prediction is None:
                continue  # the caller kept the scores; the table row still reports the drift
            labels, ref, cur = histogram(profile.prediction, current_predictions, name="prediction")
        else:
            labels, ref, cur = histogram(profile.features[f.name], current[f.name], name=f.name)
        html.append(f'<figure class="drift-plot" data-feature="{escape(f.name)}">{_svg_bars(labels, ref, cur)}'
                    f"<figcaption>{escape(f.name)}: {escape(f.reason)}</figcaption></figure>")
    html.append("</body></html>")
    return "\n".join(html)
