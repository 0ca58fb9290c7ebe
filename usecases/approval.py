"""Approve or reject a version that waits for a person, and list what waits: Prefect-free use cases.

``registry approve|reject`` (the CLI) and the training flow resumed on the pool both end here, so
a decision is the same signed record (:mod:`registry.approvals`) plus the same audit entry
(``model.approve`` / ``model.reject``: approver, reason, the manifest digest, the requirement)
whoever makes it. The approver is :class:`governance.actor.Actor`'s user (``DRIFTLINE_ACTOR`` or
the OS user, as for every audited action) unless the adapter names one (the pool's form carries
an ``approver`` field); it must be on the version's signed ``approvers`` list when the list is
not empty. An approver not on the list is refused as a user error (exit 2): the name is declared,
not authenticated (the signing key's passphrase is the authority), so a refusal says "not this
name", it is not tampering. A timeout on the pool is a rejection recorded by the worker itself,
reason ``approval timed out``, and needs no listed approver.

The trail is authoritative, the record is its signed copy for fast reads. A version whose record
is missing while the trail names a decision on it is never decided again: the opposite decision
is refused as tampering (:class:`registry.approvals.DecisionRecordMissing`, exit 3); the same one
rewrites the record from the trail's entry (its approver, reason and time, the entry's MAC checked
with the key), recorded as ``model.decision_restored``, which is also how a decision cut off
between its entry and its record (a kill) is completed. A version left pending past its signed
timeout (local mode too) reads as rejected everywhere; approving it is refused, rejecting it still
records the rejection, and :func:`expire` records the timed-out ones so the trail shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from driftline.clock import format_time, now_text, parse_time
from registry.approval_state import timeout_text
from registry.approvals import Approval, ApprovalRefused, DecisionRecordMissing
from usecases.approval_trail import check_entry_mac, subject
from usecases.promotion import AliasMove, probe_audit, promote_version

if TYPE_CHECKING:
    from registry.approvals import TrailDecision
    from registry.keys import SigningKey
    from tasks.workspace import Workspace

TIMED_OUT = "approval timed out"


@dataclass(frozen=True)
class DecisionOutcome:
    """A recorded decision, and the champion move it led to (None when not promoted).
    ``restored_from`` is the audit entry a missing record was rewritten from (None: a new decision)."""

    approval: Approval
    promoted: AliasMove | None = None
    restored_from: int | None = None


@dataclass(frozen=True)
class Waiting:
    """One version that waits for a person: what ``registry pending`` prints."""

    model: str
    version: int
    verdict: str
    created_at: str
    age_hours: float
    approvers: tuple[str, ...]
    timeout_hours: float
    expires_at: str = ""
    expired: bool = False  # past its signed timeout: rejected, can no longer be approved


@dataclass(frozen=True)
class Expired:
    """What ``registry expire`` recorded: one timed-out rejection per version (empty: none was due)."""

    rejected: tuple[Approval, ...]


def approve_command(model: str, version: int) -> str:
    return f"python -m flows registry approve {model} {version} --reason TEXT"


def decide(ws: "Workspace", model: str, version: int, *, approve: bool, reason: str,
           approver: str | None = None, flow_run_id: str | None = None, timed_out: bool = False,
           promote: bool = False) -> DecisionOutcome:
    """Record ``approve`` or reject on ``model`` v``version`` (once), audited and checkpointed; with
    ``promote`` an approval then moves the champion to it, as the gate would have."""
    key = ws.signing_key()  # KeyMaterialError here: nothing has changed yet
    probe_audit(ws.audit)
    actor = ws.actor(flow_run_id)
    who = (approver or actor.user).strip()
    try:
        state = ws.registry.approval_state(model, version)
    except DecisionRecordMissing as exc:
        if exc.decision.approved != approve:
            raise DecisionRecordMissing(
                f"{model} v{version} cannot be {'approved' if approve else 'rejected'}: {exc.message}",
                decision=exc.decision, seq=exc.seq,
                hint="a version is decided once and the trail holds its decision; restore the deleted "
                     "record from a backup") from None
        return _restore(ws, model, version, key=key, flow_run_id=flow_run_id, promote=promote)
    if not state.requirement.required:
        raise ApprovalRefused(f"{model} v{version} does not require approval (its signed spec says so)",
                              hint=f"promote it: python -m flows registry promote {model} {version} --reason TEXT")
    if state.gate_status != "accepted":
        raise ApprovalRefused(f"{model} v{version} was rejected by its evaluation gate; there is nothing to approve",
                              hint="train a new version")
    if approve and state.timed_out:
        raise ApprovalRefused(f"{model} v{version} cannot be approved: {timeout_text(state)}",
                              hint="train a new version; `registry reject` still records the rejection")
    listed = state.requirement.approvers
    if listed and not timed_out and who not in listed:
        raise ApprovalRefused(f"{who!r} is not an approver of {model} v{version} (approvers: {', '.join(listed)})",
                              hint="one of the listed approvers decides (DRIFTLINE_ACTOR names who acts); "
                                   "the list is the one signed into the version at training")
    decision = Approval(model=model, version=version, manifest_sha256=state.manifest_sha256,
                        decision="approved" if approve else "rejected", approver=who or actor.user,
                        reason=reason, at=now_text(), host=actor.host, flow_run_id=actor.flow_run_id)

    def record(d: Approval) -> None:
        ws.audit.append("model.approve" if d.approved else "model.reject", f"model:{model}:v{version}", {
            "approver": d.approver, "decision": d.decision, "reason": d.reason, "at": d.at,
            "manifest_sha256": d.manifest_sha256, "approvers": list(listed), "timed_out": timed_out}, actor=actor)

    ws.registry.record_decision(decision, record=record)
    ws.audit.checkpoint(key)
    moved = None
    if approve and promote:
        moved = promote_version(ws, model, version, reason=f"approved by {decision.approver}: {reason}",
                                flow_run_id=flow_run_id)
    return DecisionOutcome(decision, moved)


def _restore(ws: "Workspace", model: str, version: int, *, key: "SigningKey", flow_run_id: str | None,
             promote: bool) -> DecisionOutcome:
    """Rewrite a missing record from the trail's decision (asked for by the same decision again)."""
    actor = ws.actor(flow_run_id)

    def check(found: "TrailDecision") -> None:
        check_entry_mac(ws.audit, found, key)
        a = found.approval
        ws.audit.append("model.decision_restored", subject(model, version), {
            "from_seq": found.seq, "decision": a.decision, "approver": a.approver, "reason": a.reason,
            "at": a.at, "manifest_sha256": a.manifest_sha256}, actor=actor)

    found = ws.registry.restore_decision(model, version, check=check)
    ws.audit.checkpoint(key)
    if found is None:  # restored by someone else meanwhile: the record is there now
        state = ws.registry.approval_state(model, version)
        raise ApprovalRefused(f"{model} v{version} was {state.status} already", hint="a version is decided once")
    moved = None
    if found.approval.approved and promote:
        moved = promote_version(ws, model, version, reason=f"approved by {found.approval.approver}: "
                                f"{found.approval.reason} (record restored from audit entry {found.seq})",
                                flow_run_id=flow_run_id)
    return DecisionOutcome(found.approval, moved, restored_from=found.seq)


def pending(ws: "Workspace", model: str | None = None, *, now: datetime | None = None) -> list[Waiting]:
    """Every version that waits for a person (gate passed, approval required, no decision), oldest
    first, with those past their signed timeout marked ``expired`` (rejected, no longer approvable)."""
    at = now or ws.registry.now()
    out: list[Waiting] = []
    for name in [model] if model else ws.registry.models():
        for v in ws.registry.versions(name):
            if v.status != "accepted":
                continue
            state = ws.registry.approval_state(name, v.version)
            if state.status != "pending" and not state.timed_out:
                continue
            age = (at - parse_time(v.created_at)).total_seconds() / 3600 if v.created_at else 0.0
            expires = format_time(state.expires_at) if state.expires_at else ""
            out.append(Waiting(name, v.version, "promote", v.created_at, round(age, 2),
                               state.requirement.approvers, state.requirement.timeout_hours, expires,
                               state.timed_out))
    return out


def expire(ws: "Workspace", model: str | None = None) -> Expired:
    """Record a signed rejection (reason ``approval timed out``) and its ``model.reject`` entry for
    every version past its signed timeout with no decision, so the trail shows what readers already
    derive. Versions decided already are left alone: running it twice writes nothing. A timed-out
    rejection cut off before its record (a kill) is completed from the trail; any other missing
    record is the tampering it is (:class:`DecisionRecordMissing`)."""
    done: list[Approval] = []
    for name in [model] if model else ws.registry.models():
        for v in ws.registry.versions(name):
            if v.status != "accepted":
                continue
            try:
                if not ws.registry.approval_state(name, v.version).timed_out:
                    continue
            except DecisionRecordMissing as exc:
                if exc.decision.approved or exc.decision.reason != TIMED_OUT:
                    raise
            done.append(decide(ws, name, v.version, approve=False, reason=TIMED_OUT, timed_out=True).approval)
    return Expired(tuple(done))
