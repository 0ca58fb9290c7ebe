"""The drift report's plots: header, every chart present, values from the verdict, escaping, history."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import AuditChainError, InputError
from governance.actor import Actor
from governance.audit import AuditLog
from monitoring.drift import DriftPolicy, detect_drift
from monitoring.drift_plots import DriftPoint, history_svg
from monitoring.drift_report import DriftHeader, render_drift_html
from monitoring.profile import build_profile
from usecases.monitor import drift_history

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HEADER = DriftHeader("churn", 4, "2024-05-01T00:00:00.000000Z", "2024-05-08T00:00:00.000000Z",
                     "2024-05-08T09:30:00.000000Z")
ACTOR = Actor(user="ana", host="laptop", flow_run_id="run-1")


def _data(rng: np.random.Generator, n: int, shift: float, share: float) -> pl.DataFrame:
    return pl.DataFrame({"calm": rng.normal(0, 1, n), SCRIPT: rng.normal(shift, 1, n),
                         "device": rng.choice(["mobile", IMG], n, p=[share, 1 - share])})


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    profile = build_profile(_data(rng, 3000, 0.0, 0.2), numeric=["calm", SCRIPT], categorical=["device"],
                            predictions=rng.beta(2, 5, 3000))
    current = _data(rng, 3000, 1.0, 0.6)
    predictions = rng.beta(2.2, 5, 3000)
    policy = DriftPolicy()
    report = detect_drift(profile, current, policy, current_predictions=predictions)
    history = (DriftPoint("2024-04-24T09:30:00.000000Z", 3, "w1", False, 0.0, {"calm": 0.01, SCRIPT: 0.02}),
               DriftPoint("2024-05-01T09:30:00.000000Z", 4, "w2", True, 2 / 3, {"calm": 0.02, SCRIPT: 0.9}))
    return profile, current, predictions, policy, report, history


def _page(case, **kw) -> str:
    profile, current, predictions, policy, report, history = case
    return render_drift_html(report, profile, current, current_predictions=predictions, header=HEADER,
                             policy=policy, history=history, **kw)


class _Figures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.bad = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.ids.append(dict(attrs)["id"] or "")
        self.bad += tag in ("script", "img", "iframe")


def _figure(page: str, name: str) -> str:
    return page.split(f'id="plot-{name}"', 1)[1].split("</figure>", 1)[0]


def test_header_and_every_chart_are_there(case) -> None:
    page = _page(case)
    figures = _Figures()
    figures.feed(page)
    drifted = [f for f in case[4].features if f.drifted]
    assert figures.ids == ["plot-summary", "plot-prediction",
                           *(f"plot-feature-{i}" for i in range(len(drifted))), "plot-history"]
    header = page.split('class="header">', 1)[1].split("</p>", 1)[0]
    assert all(t in header for t in ("churn", "version 4", HEADER.window_start, HEADER.window_end, HEADER.made_at))
    assert "churn v4" in page.split("</h1>", 1)[0]
    for name in ("summary", "prediction", "history"):
        assert "<svg" in _figure(page, name)
    assert "share of rows" in _figure(page, "prediction")  # axes say what they count


def test_stable_features_are_charted_only_on_request(case) -> None:
    stable = [f.name for f in case[4].features if not f.drifted]
    assert stable == ["calm"]
    assert 'data-feature="calm"' not in _page(case)
    assert 'data-feature="calm"' in _page(case, stable_charts=True)


def test_summary_shows_the_verdicts_own_statistics(case) -> None:
    report, policy = case[4], case[3]
    summary = _figure(_page(case), "summary")
    shown = [float(v) for v in re.findall(r">\s*(\d+\.\d{3})\s*<", summary)]
    rows = [*report.features, report.prediction]
    assert shown == [round(f.psi, 3) for f in rows] + [round(f.jensen_shannon, 3) for f in rows]
    assert f"threshold {policy.psi_threshold:g}" in summary and f"threshold {policy.min_effect:g}" in summary


def test_names_and_categories_are_escaped_inside_the_svg(case) -> None:
    page = _page(case, stable_charts=True)
    figures = _Figures()
    figures.feed(page)
    assert figures.bad == 0 and SCRIPT not in page and "<img" not in page
    svgs = "".join(re.findall(r"<svg.*?</svg>", page, flags=re.S))
    assert "&lt;script&gt;" in svgs and "&lt;img src=x" in svgs


def test_history_is_read_from_the_audit_trail_and_refuses_a_broken_chain(tmp_path: Path) -> None:
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    ticks = iter(start + timedelta(days=i) for i in range(100))
    log = AuditLog(tmp_path / "audit", clock=lambda: next(ticks))
    log.append("drift.verdict", "model:churn:v1", {"drifted": False, "share_drifted": 0.0, "window": "a"},
               actor=ACTOR)  # an entry written before per-feature PSI was recorded
    log.append("drift.verdict", "model:other:v1", {"drifted": True, "share_drifted": 1.0}, actor=ACTOR)
    log.append("model.register", "model:churn:v2", {}, actor=ACTOR)
    log.append("drift.verdict", "model:churn:v2", {"drifted": True, "share_drifted": 0.5, "window": "b",
                                                   "psi": {"calm": 0.3}}, actor=ACTOR)
    points = drift_history(log, "churn")
    assert [(p.version, p.drifted, p.share_drifted, dict(p.psi)) for p in points] == [
        (1, False, 0.0, {}), (2, True, 0.5, {"calm": 0.3})]
    assert drift_history(log, "churn", limit=1) == points[1:]
    assert "<svg" in history_svg(points)
    lines = log.log_path.read_bytes().splitlines(keepends=True)
    log.log_path.write_bytes(b"".join(lines[:1] + lines[2:]))  # an entry cut out of the middle
    with pytest.raises(AuditChainError):
        drift_history(log, "churn")
    raw = bytearray(b"".join(lines))
    raw[raw.index(b'"share_drifted":0.5') + len('"share_drifted":0.')] = ord("9")  # flip one byte
    log.log_path.write_bytes(bytes(raw))
    with pytest.raises(AuditChainError):
        drift_history(log, "churn")


def test_a_point_refuses_a_share_out_of_range() -> None:
    with pytest.raises(InputError):
        DriftPoint("t", 1, "w", True, 1.5)
    assert "no past monitor runs" in history_svg(())
