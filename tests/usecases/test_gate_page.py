"""The gate page a registration writes: plots, the version in the heading, links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from governance.evidence import Evidence
from governance.gate_plots import PLOTS, PlotEvidence
from registry import layout
from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, gate_report, lineage
from usecases.registration import register_candidate


def _plots() -> PlotEvidence:
    y = np.tile([0, 1], 20)
    scores = np.where(y == 1, 0.7, 0.3)
    return PlotEvidence(Evidence(candidate={"auc": 0.8}, y_true=y, candidate_scores=scores, threshold=0.5),
                        {"tenure": 1.0})


def _hrefs(page: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', page)


def test_the_signed_page_and_the_reports_copy_name_the_version_and_carry_the_plots(ws: Workspace) -> None:
    reports = ws.home.reports
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "drift-churn-v1-20240101T000000.html").write_text("old")
    (reports / "drift-churn-v1-20240301T000000.html").write_text("newest")
    (reports / "drift-churn-v1-20240201T000000.html").write_text("middle")
    version = register_candidate(ws, files={**FILES, "model.txt": b"three"}, lineage=lineage("3"),
                                 report=gate_report(), plots=_plots())
    assert version.version == 3
    signed = (version.path / layout.GATE_REPORT_HTML).read_text()
    copy = (reports / "gate-churn-v3.html").read_text()
    for page, where in ((signed, version.path), (copy, reports)):
        assert "churn v3" in page.split("</h1>", 1)[0]
        assert all(f'id="plot-{name}"' in page for name in PLOTS["binary"])
        targets = [(where / href).resolve() for href in _hrefs(page)]
        assert (version.path / layout.METADATA).resolve() in targets
        assert (reports / "drift-churn-v1-20240301T000000.html").resolve() in targets
        assert all(t.is_file() or t.name == layout.TRIALS for t in targets), targets  # FILES: no trials.json
    assert ws.registry.verify("churn", 3)  # the page is one of the signed files


def test_a_page_without_plot_data_is_the_table_alone(ws: Workspace) -> None:
    version = register_candidate(ws, files={**FILES, "model.txt": b"four"}, lineage=lineage("4"),
                                 report=gate_report())
    page = Path(version.path / layout.GATE_REPORT_HTML).read_text()
    assert "<figure" not in page and "churn v3" in page
