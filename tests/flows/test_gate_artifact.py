"""The gate's Prefect artifact: the report's table, then every plot of the page as a Markdown image
whose data URI decodes to that very SVG (the UI renders data-URI images; an ``<img>`` runs nothing),
and a report without plot data is the table alone."""

from __future__ import annotations

import base64
import re

from governance.gate_plots import PLOTS, TITLES
from tasks.gate import gate_markdown
from tests.usecases.candidates import gate_report
from tests.usecases.test_gate_page import _plots
from usecases.registration import gate_figures


def test_each_plot_is_an_image_of_its_svg_after_the_table() -> None:
    report = gate_report()
    figures = gate_figures(report, _plots())
    md = gate_markdown(report, figures)
    assert md.startswith(report.to_markdown().rstrip()) and "## Plots" in md
    images = re.findall(r"!\[([^\]]+)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", md)
    assert [title for title, _ in images] == [TITLES[name] for name in PLOTS["binary"]]
    assert [base64.b64decode(data).decode() for _, data in images] == list(figures.values())
    assert all(svg.lstrip().startswith("<svg") for svg in figures.values())


def test_without_plot_data_the_artifact_is_the_table() -> None:
    report = gate_report()
    assert gate_markdown(report, gate_figures(report, None)) == report.to_markdown().rstrip() + "\n"
