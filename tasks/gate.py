"""The evaluation-gate task: evidence in, typed GateReport out, shown and audited.

The report is published as a Prefect markdown artifact and written (JSON and HTML) beside the
version by the registration task; here it is only decided and audited.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from governance.gate_report import GateReport
from governance.gates import Evidence, default_policy, evaluate_gate
from tasks.runtime import flow_run_id
from tasks.workspace import Workspace


@task(name="evaluation-gate", cache_policy=NO_CACHE)
def gate(ws: Workspace, evidence: Evidence, *, candidate: str, champion: str | None) -> GateReport:
    policy = default_policy(ws.settings.gate, has_champion=champion is not None)
    report = evaluate_gate(policy, evidence, candidate=candidate, champion=champion)
    create_markdown_artifact(key="gate-report", markdown=report.to_markdown(),
                             description=f"Gate for {candidate}: {report.verdict}")
    ws.audit.append("gate.decision", candidate, {
        "verdict": report.verdict, "champion": champion, "policy": report.policy,
        "reasons": list(report.reasons()), "report_sha256": report.digest}, actor=ws.actor(flow_run_id()))
    return report
