"""A passing candidate whose signed spec asks for a person: wait for the decision, then promote or not.

In local mode (no deployment: ``python -m flows train``) the version is left ``pending``: the run
says how to decide (``registry approve MODEL VERSION --reason ...``), emits
``driftline.approval.requested`` and completes; :mod:`usecases.approval` decides later. On the pool
(the run comes from a deployment) the flow PAUSES with ``wait_for_input=ApprovalInput``: the Prefect
UI shows the gate report (already published, with its plots, as the run's ``gate-report`` artifact,
and repeated in the form's description) and a form (decision, reason, approver); on resume the same
signed record and audit entry as the CLI's are written, with the form's ``approver`` checked against
the signed list (an unlisted name pauses again, until the deadline). A timeout records a rejection,
reason ``approval timed out``. Pause, not suspend: a suspended run is rerun from its start on
resume, which would search and fit again (or need every task's result persisted to be skipped); a
pause keeps the process and its state and resumes on the next line. Its cost is a worker slot held
for the wait (bounded by the spec's ``approval_timeout_hours``, 72 h by default, counted from the
version's signed ``created_at`` as every reader counts it); a version left pending by a worker that
died can still be decided with ``registry approve`` until then, and reads as rejected after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from flows.approval_resume import pause_key
from flows.events import emit, model_resource
from flows.triggers import APPROVAL_DECIDED, APPROVAL_REQUESTED
from governance.gate_report import GateReport
from registry.approvals import ApprovalRefused, Requirement
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace
from usecases.approval import TIMED_OUT, approve_command, decide

Decision = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True)
class Waited:
    """What became of a version waiting for a person: ``decision``, and whether this run recorded it
    (``here``: its form, or its timeout) or someone did by other means (``registry approve|reject``,
    which also chose whether to promote: the run then promotes nothing itself)."""

    decision: Decision
    here: bool = True


class ApprovalInput(RunInput):
    """The form the Prefect UI shows on the paused run."""

    decision: Literal["approve", "reject"] = "approve"
    reason: str
    approver: str


def on_pool() -> bool:
    """True when this run was started from a deployment (a worker runs it): someone can resume it."""
    ctx = FlowRunContext.get()
    return ctx is not None and ctx.flow_run is not None and ctx.flow_run.deployment_id is not None


def wait_for_approval(ws: Workspace, version: ModelVersion, report: GateReport,
                      need: Requirement) -> Waited:
    """Leave the version pending (local) or pause for the decision (pool); what became of it."""
    name, number = version.model, version.version
    log = run_logger()
    emit(APPROVAL_REQUESTED, model_resource(name, number), {
        "model": name, "version": number, "approvers": list(need.approvers), "timeout_hours": need.timeout_hours,
        "command": approve_command(name, number)})
    if not on_pool():
        log.info("%s v%d waits for approval: %s", name, number, approve_command(name, number))
        return Waited("pending")
    # The wait ends where every reader's does: the signed created_at plus the signed timeout (a
    # run that reaches here late, a retry, waits only what is left of it).
    expires = ws.registry.approval_state(name, number).expires_at
    left = (expires - ws.registry.now()).total_seconds() if expires is not None else need.timeout_hours * 3600
    deadline = time.monotonic() + left
    who = ", ".join(need.approvers) or "anyone the signing key serves"
    description = (f"## Approve {name} v{number}?\n\nApprovers: {who}. Without a decision within "
                   f"{need.timeout_hours:g} h the version is rejected.\n\n{report.to_markdown()}")
    base, attempt = description, 0
    while True:
        remaining = int(deadline - time.monotonic())
        try:
            if remaining <= 0:
                raise FlowPauseTimeout(TIMED_OUT)
            answer = pause_flow_run(wait_for_input=ApprovalInput.with_initial_data(description=description),
                                    timeout=remaining, key=pause_key(name, number, attempt))
        except FlowPauseTimeout:
            earlier = _decided_meanwhile(ws, version)
            if earlier is not None:
                return earlier
            log.warning("%s v%d: %s after %g h: rejected", name, number, TIMED_OUT, need.timeout_hours)
            decide(ws, name, number, approve=False, reason=TIMED_OUT, flow_run_id=flow_run_id(), timed_out=True)
            return Waited(_decided(name, number, "rejected", ws.actor().user, TIMED_OUT))
        try:
            out = decide(ws, name, number, approve=answer.decision == "approve", reason=answer.reason,
                         approver=answer.approver, flow_run_id=flow_run_id())
        except ApprovalRefused as exc:
            earlier = _decided_meanwhile(ws, version)
            if earlier is not None:  # `registry approve|reject` decided while the run waited: that stands
                return earlier
            attempt += 1
            log.warning("%s v%d: %s; waiting again", name, number, exc)
            description = f"**Refused: {exc.message}**\n\n{base}"
            continue
        return Waited(_decided(name, number, out.approval.decision, out.approval.approver, out.approval.reason))


def _decided_meanwhile(ws: Workspace, version: ModelVersion) -> Waited | None:
    """The decision someone recorded by other means (the CLI) while this run was paused, if any."""
    decision = ws.registry.approval_state(version.model, version.version).decision
    if decision is None:
        return None
    return Waited(_decided(version.model, version.version, decision.decision, decision.approver, decision.reason),
                  here=False)


def _decided(name: str, number: int, decision: Literal["approved", "rejected"], approver: str,
             reason: str) -> Decision:
    emit(APPROVAL_DECIDED, model_resource(name, number),
         {"model": name, "version": number, "decision": decision, "approver": approver, "reason": reason})
    run_logger().info("%s v%d: %s by %s (%s)", name, number, decision, approver, reason)
    return decision
