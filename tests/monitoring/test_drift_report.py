"""The HTML drift report: one plot per drifted feature, escaped strings, no external assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest

from monitoring.drift import detect_drift
from monitoring.drift_report import histogram, render_drift_html
from monitoring.labels import LabelledScores
from monitoring.profile import build_profile

EVIL = "<script>alert('x')</script>"


class _Outline(HTMLParser):
    """Collects the figures' feature names and every tag, to check structure rather than text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[str] = []
        self.tags: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.svgs += tag == "svg"
        if tag == "figure" and dict(attrs).get("class") == "drift-plot":
            self.figures.append(dict(attrs)["data-feature"] or "")


def _data(rng: np.random.Generator, n: int, shift: float, share: float) -> pl.DataFrame:
    return pl.DataFrame({
        "calm": rng.normal(0, 1, n), EVIL: rng.normal(shift, 1, n),
        "device": rng.choice(["mobile", "<b>desk</b>"], n, p=[share, 1 - share]),
    })


@pytest.fixture()
def setup():
    rng = np.random.default_rng(0)
    reference = _data(rng, 3000, 0.0, 0.2)
    profile = build_profile(reference, numeric=["calm", EVIL], categorical=["device"],
                            predictions=rng.beta(2, 5, 3000))
    current = _data(rng, 3000, 1.0, 0.6)
    predictions = rng.beta(5, 2, 3000)
    report = detect_drift(profile, current, current_predictions=predictions,
                          labelled=LabelledScores(rng.integers(0, 2, 3000).astype(float), predictions),
                          reference_performance={"auc": 0.75})
    return profile, current, predictions, report


def test_one_plot_per_drifted_feature_and_names_escaped(setup) -> None:
    profile, current, predictions, report = setup
    assert report.drifted_features() == (EVIL, "device") and report.prediction.drifted
    page = render_drift_html(report, profile, current, current_predictions=predictions)
    outline = _Outline()
    outline.feed(page)
    assert outline.figures == ["prediction", EVIL, "device"] and outline.svgs == 3
    assert "script" not in outline.tags and "b" not in outline.tags  # names and categories stay text
    assert EVIL not in page and "&lt;script&gt;" in page and "&lt;b&gt;desk&lt;/b&gt;" in page
    assert "auc_current" in page and "Benjamini" in page and "drift detected" in page


def test_page_is_self_contained(setup) -> None:
    profile, current, _, report = setup
    page = render_drift_html(report, profile, current)  # no scores: the prediction plot is skipped
    outline = _Outline()
    outline.feed(page)
    assert outline.figures == [EVIL, "device"]
    assert not {"script", "link", "img", "iframe"} & set(outline.tags)
    # The only URLs are the SVG namespaces (names, never fetched): no link, image or font to load.
    assert set(re.findall(r"https?://[^\"' ]+", page)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "src=" not in page and "url(http" not in page


def test_quiet_report_has_no_plots() -> None:
    rng = np.random.default_rng(1)
    profile = build_profile(_data(rng, 2000, 0, 0.2), numeric=["calm", EVIL], categorical=["device"])
    report = detect_drift(profile, _data(rng, 2000, 0, 0.2))
    page = render_drift_html(report, profile, _data(rng, 2000, 0, 0.2))
    outline = _Outline()
    outline.feed(page)
    assert not report.drifted and outline.figures == [] and "no drift" in page


def test_histogram_uses_the_statistics_bins(setup) -> None:
    profile, current, _, report = setup
    labels, ref, cur = histogram(profile.features[EVIL], current[EVIL], name=EVIL)
    assert len(labels) == len(ref) == len(cur) == len(profile.features[EVIL].counts) + 1
    assert ref.sum() == pytest.approx(1.0) and cur.sum() == pytest.approx(1.0)
    eps_ref, eps_cur = np.maximum(ref, 1e-4), np.maximum(cur, 1e-4)
    assert float(np.sum((eps_cur - eps_ref) * np.log(eps_cur / eps_ref))) == pytest.approx(report.features[1].psi)
    labels, ref, cur = histogram(profile.features["device"], current["device"], name="device")
    assert labels == ["<b>desk</b>", "mobile", "other", "null"] and ref[-2:].sum() == 0.0
