"""The evaluation-gate task: evidence in, typed GateReport out, shown and audited.

The decision is the use case's (:func:`usecases.train.decide_gate`); this task publishes the report
as a Prefect markdown artifact and audits the verdict. The report is written (JSON and HTML) beside
the version by the registration task.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from governance.gate_report import GateReport
from governance.gates import Evidence
from tasks.runtime import flow_run_id
from tasks.workspace import Workspace
from usecases.train import decide_gate


@task(name="evaluation-gate", cache_policy=NO_CACHE)
def gate(ws: Workspace, evidence: Evidence, *, candidate: str, champion: str | None) -> GateReport:
    report = decide_gate(ws.settings.gate, evidence, candidate=candidate, champion=champion,
                         metric=ws.spec.metric if ws.spec else None)
    create_markdown_artifact(key="gate-report", markdown=report.to_markdown(),
                             description=f"Gate for {candidate}: {report.verdict}")
    ws.audit.append("gate.decision", candidate, {
        "verdict": report.verdict, "champion": champion, "policy": report.policy,
        "reasons": list(report.reasons()), "report_sha256": report.digest}, actor=ws.actor(flow_run_id()))
    return report
