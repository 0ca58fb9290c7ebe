"""The serving comparison as one self-contained HTML page (no script, no remote asset).

Every value that came from data (model name, versions, numbers, the rule) goes through
:func:`html.escape`: a model or alias name is user text, and a report must never run it.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usecases.serving_compare import ServingComparison, SideSummary

_LEVELS = ("p5", "p25", "p50", "p75", "p95")


def _num(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _side_rows(name: str, side: "SideSummary") -> str:
    quantiles = "".join(f"<td>{_num(q)}</td>" for q in side.quantiles) or "<td colspan='5'>no rows</td>"
    perf = side.performance or {}
    labelled = f"{int(perf['labelled_rows'])}" if "labelled_rows" in perf else "0"
    return (f"<tr><th>{html.escape(name)}</th><td>{html.escape(', '.join(f'v{v}' for v in side.versions))}</td>"
            f"<td>{side.rows}</td><td>{_num(side.mean)}</td>{quantiles}<td>{labelled}</td>"
            f"<td>{_num(perf.get('auc_current'))}</td><td>{_num(perf.get('logloss'))}</td>"
            f"<td>{_num(perf.get('brier'))}</td></tr>")


def render_comparison_html(result: "ServingComparison") -> str:
    """The page: window and mode, agreement on paired requests, score distributions and PSI, performance."""
    e = html.escape
    agreement = ("no request was scored by both (a canary answers other requests of the window)"
                 if result.agreement is None else f"{result.agreement:.2%} of {result.paired_rows} paired rows")
    head = "".join(f"<th>{h}</th>" for h in ("side", "versions", "rows", "mean", *_LEVELS, "labelled", "AUC",
                                               "log loss", "Brier"))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Serving comparison: {e(result.model)}</title></head><body>"
        f"<h1>Champion against challenger: {e(result.model)}</h1>"
        f"<p>Served traffic received in [{e(result.since.isoformat())}, {e(result.until.isoformat())}); "
        f"mode <b>{e(result.mode)}</b>; task {e(result.task)}.</p>"
        f"<h2>Agreement</h2><p>{e(agreement)} ({e(result.agreement_rule)}).</p>"
        f"<h2>Scores</h2><p>PSI of the challenger's scores against the champion's: {_num(result.psi)}; "
        f"KS D {_num(result.ks)}.</p>"
        f"<table border='1'><tr>{head}</tr>{_side_rows('champion', result.champion)}"
        f"{_side_rows('challenger', result.challenger)}</table>"
        "<p>Performance is measured once labels arrive, matched to served rows by entity key from the time "
        "each request was received (binary models).</p></body></html>")
