"""The drift report as one self-contained HTML page, written to ``reports/``.

:func:`render_drift_html` turns a :class:`~monitoring.drift.DriftReport` into a page a person can
read offline: a header (model, version, window, when it was made), the verdict and the rule that
produced it, performance when labels arrived, a chart of every feature's PSI and Jensen–Shannon
distance against the thresholds, a summary table of every feature's statistics and reason, the
predictions' distribution, for each drifted feature (every feature on request) a chart of reference
against current shares over the same bins the statistics used, and the model's past monitor runs
over time (plots: :mod:`monitoring.drift_plots`). There are no scripts, fonts or external assets, so
the file opens anywhere and can be archived with an audit bundle; every string that came from data
(feature names, categories, reasons) is HTML-escaped, because feature names and categories are user
input. A PII-tagged categorical column's categories are shown as :class:`governance.report_pii.ReportPii`
says (a keyed token or a mask; a hashed column's chart shows the tokens' first hex digits and a table
under it the whole tokens, to match with an export's); a tagged numeric column's bins are numbered
(their edges are its values), and a dropped column gets no chart, only its row of statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from governance.report_pii import TOKEN_PREFIX, ReportPii
from monitoring.drift import DriftPolicy, DriftReport, FeatureDrift
from monitoring.profile import CategoricalProfile, NumericProfile, ReferenceProfile, category_counts, finite_values
from monitoring.statistics import bin_counts

if TYPE_CHECKING:
    from monitoring.drift_plots import DriftPoint

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f3f3f3}.drifted{background:#fde2e1}.verdict{font-size:1.3em;font-weight:bold}
.bad{color:#b3261e}.good{color:#1e7b34}figure{margin:1.5em 0}figcaption{font-size:13px;color:#555}
"""


def histogram(spec: NumericProfile | CategoricalProfile, values: pl.Series | np.ndarray,
              *, name: str, pii: ReportPii | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bin labels and reference/current shares over the bins the drift statistics used; a
    PII-tagged column's category labels in their ``pii`` display form (the shares unchanged)."""
    if isinstance(spec, NumericProfile):
        finite, nulls = finite_values(values, name=name)
        counts, _, _ = bin_counts(spec, finite)
        edges = [f"{e:.4g}" for e in spec.edges]
        labels = ([f"≤ {edges[0]}", *(f"({a}, {b}]" for a, b in pairwise(edges)), f"> {edges[-1]}"]
                  if edges else ["values"])
        if pii is not None and pii.tagged(name):  # quantile edges are values of the column
            labels = [f"bin {i}" for i in range(1, len(labels) + 1)]
        reference, current = np.array([*spec.counts, spec.null_count]), np.append(counts, nulls)
    else:
        observed, nulls = category_counts(values if isinstance(values, pl.Series) else pl.Series(values))
        known = list(spec.counts)
        in_known = [observed.get(k, 0) for k in known]
        labels = (pii.labels(name, known) if pii is not None else [str(k) for k in known]) + ["other"]
        reference = np.array([*spec.counts.values(), spec.other_count, spec.null_count])
        current = np.array([*in_known, sum(observed.values()) - sum(in_known), nulls])
    labels.append("null")
    ref_total, cur_total = max(reference.sum(), 1), max(current.sum(), 1)
    return labels, reference / ref_total, current / cur_total


def _number(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _row(f: FeatureDrift) -> str:
    cells = [escape(f.name), f.kind, "yes" if f.drifted else "no", "yes" if f.critical else "",
             _number(f.psi, ".3f"), _number(f.statistic), _number(f.p_adjusted, ".2g"),
             _number(f.jensen_shannon, ".3f"), _number(f.wasserstein), escape(f.reason)]
    css = ' class="drifted"' if f.drifted else ""
    return f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


@dataclass(frozen=True)
class DriftHeader:
    """What the page is about: the model and version judged, the window ``[start, end)`` and when
    the report was made (UTC text, as :func:`driftline.clock.format_time` writes it)."""

    model: str
    version: int
    window_start: str
    window_end: str
    made_at: str


def _figure(name: str, kind: str, svg: str, caption: str, *, feature: str | None = None) -> str:
    data = f' data-feature="{escape(feature)}"' if feature is not None else ""
    return (f'<figure id="plot-{escape(name)}" class="{kind}"{data}>{svg}'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def render_drift_html(report: DriftReport, profile: ReferenceProfile, current: pl.DataFrame, *,
                      current_predictions: np.ndarray | None = None, title: str = "Drift report",
                      header: DriftHeader | None = None, policy: DriftPolicy | None = None,
                      history: Sequence[DriftPoint] = (), stable_charts: bool = False,
                      pii: ReportPii | None = None) -> str:
    """Self-contained HTML: header, verdict, rule, the summary chart of every feature's statistics
    against the ``policy`` thresholds, the summary table, the predictions' distribution (given
    the scores), one distribution per drifted feature (every feature with ``stable_charts``), and
    the ``history`` of past runs. ``pii`` treats tagged columns' category labels; a dropped
    column is not charted."""
    from monitoring.drift_plots import distribution_svg, history_svg, summary_svg  # matplotlib on use

    verdict = ('<span class="bad">drift detected</span>' if report.drifted
               else '<span class="good">no drift</span>')
    rows = [*report.features, *([report.prediction] if report.prediction is not None else [])]
    head = ("feature", "kind", "drifted", "critical", "PSI", "KS D / χ²", "p (BH)", "JS distance",
            "Wasserstein", "reason")
    if header is not None:
        title = f"Drift report: {header.model} v{header.version}"
    html = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>",
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"]
    if header is not None:
        html.append(f'<p class="header">Model <b>{escape(header.model)}</b>, version {header.version}; window '
                    f"{escape(header.window_start)} to {escape(header.window_end)} (end excluded); made "
                    f"{escape(header.made_at)}.</p>")
    if pii is not None and pii.note():
        html.append(f'<p class="pii">{escape(pii.note())}</p>')
    html += [f'<p class="verdict">{verdict}: {len(report.drifted_features())} of {len(report.features)} '
             f"features drifted ({report.share_drifted:.0%})</p>",
             f"<p>Rule: {escape(report.rule)}.</p>",
             f"<p>Reference rows: {report.reference_rows:,}; current rows: {report.current_rows:,}.</p>"]
    if report.performance is not None:
        html.append("<h2>Performance</h2><table>" + "".join(
            f"<tr><th>{escape(k)}</th><td>{v:.4g}</td></tr>" for k, v in sorted(report.performance.items()))
            + "</table>")
    if policy is not None:
        html.append("<h2>Statistics against their thresholds</h2>" + _figure(
            "summary", "summary", summary_svg(report, policy), "PSI and Jensen–Shannon distance per feature; "
            "a feature drifts when its test is significant and one of them reaches its threshold"))
    html.append("<h2>Features</h2><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
                + "".join(_row(f) for f in rows) + "</table>")
    if current_predictions is not None and profile.prediction is not None and report.prediction is not None:
        labels, ref, cur = histogram(profile.prediction, current_predictions, name="prediction")
        html.append("<h2>Predictions</h2>" + _figure(
            "prediction", "drift-plot", distribution_svg(labels, ref, cur, what="model score"),
            f"prediction: {report.prediction.reason}", feature="prediction"))
    charted = [f for f in report.features if (f.drifted or stable_charts)
               and (pii is None or pii.shows_values(f.name))]
    if charted:
        html.append("<h2>Feature distributions</h2>" if stable_charts else "<h2>Drifted distributions</h2>")
    for i, f in enumerate(charted):
        labels, ref, cur = histogram(profile.features[f.name], current[f.name], name=f.name, pii=pii)
        tokens = pii is not None and pii.actions.get(f.name) == "hash"
        shown = [t.replace(TOKEN_PREFIX, "#")[:11] for t in labels] if tokens else labels
        html.append(_figure(f"feature-{i}", "drift-plot", distribution_svg(shown, ref, cur, what=f.name),
                            f"{f.name}: {f.reason}", feature=f.name))
        if tokens:  # a plot label is cut short: the full tokens, to match with an export's
            html.append(f'<table class="pii-bins" data-feature="{escape(f.name)}"><tr><th>bin</th>'
                        "<th>keyed-hash token</th><th>reference</th><th>current</th></tr>" + "".join(
                            f"<tr><td>{escape(a)}</td><td><code>{escape(b)}</code></td><td>{r:.1%}</td>"
                            f"<td>{c:.1%}</td></tr>" for a, b, r, c in zip(shown, labels, ref, cur, strict=True))
                        + "</table>")
    if header is not None:
        html.append("<h2>Drift over time</h2>" + _figure(
            "history", "history", history_svg(history), "past monitor runs of this model, from the audit trail"))
    html.append("</body></html>")
    return "\n".join(html)
