"""The gate report's plots: every plot of each task, values from the decided result, escaping, bytes."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import numpy as np
import pytest

from driftline.errors import InputError
from driftline.settings import GateSettings
from governance.gate_plots import PLOTS, PlotEvidence, gate_page, gate_plots
from governance.gate_report import display
from governance.gates import Evidence, default_policy, evaluate_gate
from training.metrics import evaluate

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
COLUMN = SCRIPT  # a segment column and a feature named like markup
FACTS = dict(training_rows=1_000, quarantine_share=0.0125, model_size_bytes=1_234_567, latency_ms_per_1k=2.5)


def _evidence(task: str, n: int = 600) -> tuple[Evidence, tuple[str, ...]]:
    rng = np.random.default_rng(7)
    segments = {COLUMN: np.where(rng.random(n) < 0.5, IMG, "plain $x$")}
    if task == "binary":
        y = rng.integers(0, 2, n)
        cand, champ = (np.clip(w * y + rng.random(n) * (1 - w), 0, 1) for w in (0.4, 0.2))
        classes: tuple[str, ...] = ("no", IMG)
        extra: dict[str, object] = {"threshold": 0.5}
    elif task == "multiclass":
        y = rng.integers(0, 3, n)
        raw_c, raw_h = (np.eye(3)[y] * w + rng.random((n, 3)) for w in (1.0, 0.4))
        cand, champ = raw_c / raw_c.sum(1, keepdims=True), raw_h / raw_h.sum(1, keepdims=True)
        classes, extra = ("a", "b", SCRIPT), {}
    else:
        y = rng.normal(10, 3, n)
        cand, champ = y + rng.normal(0, 1, n), y + rng.normal(0.5, 2, n)
        classes, extra = (), {"baseline": 10.0}
    e = Evidence(candidate=evaluate(y, cand, task), champion=evaluate(y, champ, task), y_true=y,
                 candidate_scores=cand, champion_scores=champ, segments=segments, task=task, **FACTS, **extra)
    return e, classes


def _page(task: str) -> tuple[str, Evidence]:
    e, classes = _evidence(task)
    settings = GateSettings(slice_columns=(COLUMN,), max_rmse=5.0)
    report = evaluate_gate(default_policy(task, settings, has_champion=True), e, candidate="churn candidate (ab)",
                           champion="churn:v1")
    plots = PlotEvidence(e, {COLUMN: 5.0, "tenure": 2.0}, classes)
    return gate_page(report, plots, version=2, links={"lineage": "metadata.json"}), e


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: list[str] = []
        self.scripts = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.figures.append(dict(attrs)["id"] or "")
        self.scripts += tag in ("script", "img", "iframe")

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


@pytest.mark.parametrize("task", sorted(PLOTS))
def test_every_plot_of_the_task_is_on_the_page(task):
    page, _ = _page(task)
    ids = _Ids()
    ids.feed(page)
    assert ids.figures == [f"plot-{name}" for name in PLOTS[task]]
    for name in PLOTS[task]:  # each figure holds a drawn SVG, not only its caption
        body = page.split(f'id="plot-{name}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in body and "</svg>" in body
    assert "v2" in page.split("</h1>", 1)[0] and 'href="metadata.json"' in page


@pytest.mark.parametrize("task", sorted(PLOTS))
def test_user_text_is_escaped_in_the_table_and_inside_the_svg(task):
    page, _ = _page(task)
    ids = _Ids()
    ids.feed(page)
    assert ids.scripts == 0  # no <script>, <img> or <iframe> element anywhere, SVG included
    assert SCRIPT not in page and "<img" not in page
    text = "".join(ids.texts)
    assert SCRIPT in text  # the column name is shown, as text
    svgs = "".join(re.findall(r"<svg.*?</svg>", page, flags=re.S))
    assert "&lt;script&gt;" in svgs  # ...also inside the plots (feature importance, segment titles)
    assert "plain $x$" in svgs  # dollars are shown as they are (no mathtext)


def test_values_shown_are_the_decided_ones():
    page, e = _page("binary")
    roc = page.split('id="plot-roc"', 1)[1].split("</figure>", 1)[0]
    shown = [float(v) for v in re.findall(r"AUC (\d\.\d{4})", roc)]
    assert shown == [round(e.candidate["auc"], 4), round(e.champion["auc"], 4)]
    # The table's rounding and units are the checks' own values, formatted.
    assert "1,234,567 bytes (1.2 MB)" in page and "2.50 ms per 1,000 rows" in page and "1.25%" in page
    seg = page.split('id="plot-segments"', 1)[1].split("</figure>", 1)[0]
    counts = sorted(int(v.replace(",", "")) for v in re.findall(r"n=([\d,]+)", seg))
    values = np.asarray(e.segments[COLUMN])
    assert sorted(set(counts)) == sorted(int(np.sum(values == v)) for v in np.unique(values))


def test_display_units():
    from governance.gate_report import CheckResult

    assert display(CheckResult("model size", True, 999, "", "")) == "999 bytes"
    assert display(CheckResult("training rows", True, 12345, "", "")) == "12,345 rows"
    assert display(CheckResult("positive_rate at threshold", True, 0.5, "", "")) == "50.00%"
    assert display(CheckResult("auc bound", True, 0.812345, "", "")) == "0.8123"
    assert display(CheckResult("x", False, None, "", "")) == "none"


def test_plots_repeat_byte_for_byte_and_render_quickly():
    e, classes = _evidence("binary", n=5_000)
    report = evaluate_gate(default_policy("binary", GateSettings(slice_columns=(COLUMN,)), has_champion=True), e,
                           candidate="m candidate (x)", champion="m:v1")
    plots = PlotEvidence(e, {"a": 1.0}, classes)
    first = gate_plots(report, plots)
    started = time.perf_counter()
    again = gate_plots(report, plots)
    elapsed = time.perf_counter() - started
    assert first == again
    print(f"gate plots, 5,000 holdout rows: {elapsed:.2f} s")  # measured ~0.6 s; not asserted (shared CI)


def test_plots_refuse_a_report_of_another_task_and_bad_importance():
    e, _ = _evidence("binary")
    r, _ = _evidence("regression")
    report = evaluate_gate(default_policy("regression", GateSettings(), has_champion=True), r,
                           candidate="m candidate (x)", champion="m:v1")
    with pytest.raises(InputError):
        gate_plots(report, PlotEvidence(e))
    with pytest.raises(InputError):
        PlotEvidence(e, {"a": float("nan")})


def test_missing_data_is_said_not_hidden():
    e = Evidence(candidate={"auc": 0.8, "logloss": 0.5}, **FACTS)  # no holdout arrays, no segments
    report = evaluate_gate(default_policy("binary", GateSettings(), has_champion=False), e,
                           candidate="m candidate (x)", champion=None)
    page = gate_page(report, PlotEvidence(e), version=1)
    assert page.count("<figure") == len(PLOTS["binary"])
    assert "no holdout labels and scores" in page and "set gate slice_columns" in page
