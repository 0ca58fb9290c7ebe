"""The evaluation-gate task: evidence in, typed GateReport out, shown and audited.

The decision is the use case's (:func:`usecases.train.decide_gate`); :func:`gate` audits the
verdict, :func:`publish_gate_report` shows the report with its plots as the run's ``gate-report``
markdown artifact (the flow draws the plots once, after the decision, for this and for the version's
signed pages). The Prefect UI renders Markdown images from data URIs, so each plot is its SVG
inline: an ``<img>`` cannot run what an SVG holds, and the plots' text is escaped as on the HTML
page. The report is written (JSON and HTML) beside the version by the registration task.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from uuid import UUID

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from governance.gate_plots import TITLES
from governance.gate_report import GateReport
from governance.gates import Evidence
from tasks.runtime import flow_run_id
from tasks.workspace import Workspace
from usecases.train import decide_gate


@task(name="evaluation-gate", cache_policy=NO_CACHE)
def gate(ws: Workspace, evidence: Evidence, *, candidate: str, champion: str | None) -> GateReport:
    report = decide_gate(ws.settings.gate, evidence, candidate=candidate, champion=champion,
                         metric=ws.spec.metric if ws.spec else None)
    ws.audit.append("gate.decision", candidate, {
        "verdict": report.verdict, "champion": champion, "policy": report.policy,
        "reasons": list(report.reasons()), "report_sha256": report.digest}, actor=ws.actor(flow_run_id()))
    return report


def gate_markdown(report: GateReport, figures: Mapping[str, str]) -> str:
    """The report's table, then each plot as a Markdown image of its SVG (``figures``: name -> SVG)."""
    lines = [report.to_markdown().rstrip()]
    if figures:
        lines += ["", "## Plots"]
    for name, svg in figures.items():
        data = base64.b64encode(svg.encode()).decode()
        lines += ["", f"### {TITLES[name]}", "", f"![{TITLES[name]}](data:image/svg+xml;base64,{data})"]
    return "\n".join(lines) + "\n"


def publish_gate_report(report: GateReport, figures: Mapping[str, str], *, candidate: str) -> UUID:
    return create_markdown_artifact(key="gate-report", markdown=gate_markdown(report, figures),
                                    description=f"Gate for {candidate}: {report.verdict}")
