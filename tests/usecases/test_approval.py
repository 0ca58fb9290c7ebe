"""Human approval: a version whose signed spec asks for it is pending until a listed person decides.

Every refusal of the threat model: pending and rejected never become champion (promote, set_alias,
rollback, load); an unlisted approver, a second decision, a tampered, deleted or copied record,
and a spec file edited after training change nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from driftline.errors import AuditChainError, InputError, IntegrityError, SignatureError
from governance.audit import AuditLog
from registry.aliases import PromotionRefused
from registry.approvals import ApprovalRefused, DecisionRecordMissing
from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, gate_report, lineage
from usecases.approval import TIMED_OUT, decide, expire, pending
from usecases.models import models_folder
from usecases.promotion import promote_version, rollback_alias
from usecases.registration import register_candidate

ROOT = Path(__file__).resolve().parents[2]
SPEC = {"name": "churn", "task": "binary", "label_group": "churn_labels", "label_column": "churned",
        "feature_groups": ["customer_activity"], "approval": True, "approvers": ["ana", "bo"]}


def add(ws: Workspace, seed: str, *, spec: dict | None = SPEC, passed: bool = True) -> int:
    meta = {**lineage(seed), **({"model_spec": spec} if spec else {})}
    return register_candidate(ws, files={**FILES, "model.txt": seed.encode()}, lineage=meta,
                              report=gate_report(passed)).version


@pytest.fixture
def ws(home: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """v1 needs no approval and is champion; v2 and v3 need ana's or bo's."""
    monkeypatch.setenv("DRIFTLINE_ACTOR", "ana")
    ws = Workspace.open()
    add(ws, "1", spec=None)
    promote_version(ws, "churn", 1, reason="first")
    add(ws, "2")
    add(ws, "3")
    return ws


def record_path(ws: Workspace, version: int) -> Path:
    return ws.home.registry / "churn" / "approvals" / f"{version}.json"


def test_a_pending_version_never_becomes_champion(ws: Workspace) -> None:
    assert ws.registry.approval_state("churn", 2).status == "pending"
    with pytest.raises(PromotionRefused, match="waits for approval"):
        promote_version(ws, "churn", 2, reason="try")
    with pytest.raises(PromotionRefused, match="waits for approval"):
        ws.registry.set_alias("churn", "challenger", 2, actor="ana", reason="shadow")
    with pytest.raises(InputError, match="'pending'"):
        ws.registry.load("churn", 2)
    assert ws.registry.alias("churn", "champion") == 1
    assert [(w.model, w.version, w.approvers) for w in pending(ws)] == [("churn", 2, ("ana", "bo")),
                                                                          ("churn", 3, ("ana", "bo"))]


def test_approve_then_promote_and_the_trail_names_who(ws: Workspace) -> None:
    out = decide(ws, "churn", 2, approve=True, reason="looks right", promote=True)
    assert out.approval.approver == "ana" and out.promoted is not None and out.promoted.to_version == 2
    assert ws.registry.alias("churn", "champion") == 2
    assert ws.registry.load("churn", "champion").version == 2
    entry = [e for e in ws.audit.entries() if e.action == "model.approve"][-1]
    assert (entry.details["approver"], entry.details["reason"], entry.subject) == ("ana", "looks right",
                                                                                   "model:churn:v2")
    assert [w.version for w in pending(ws)] == [3]


def test_a_rejected_version_never_becomes_champion(ws: Workspace) -> None:
    decide(ws, "churn", 3, approve=False, reason="bias on region", approver="bo")
    assert ws.registry.approval_state("churn", 3).status == "rejected"
    with pytest.raises(PromotionRefused, match="rejected by bo"):
        promote_version(ws, "churn", 3, reason="try")
    assert [e.details["approver"] for e in ws.audit.entries() if e.action == "model.reject"] == ["bo"]


def test_rollback_skips_unapproved_versions(ws: Workspace) -> None:
    decide(ws, "churn", 2, approve=True, reason="ok", promote=True)
    rollback_alias(ws, "churn", reason="back")
    assert ws.registry.alias("churn", "champion") == 1


def test_an_unlisted_approver_is_refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_ACTOR", "mallory")
    with pytest.raises(ApprovalRefused, match="'mallory' is not an approver"):
        decide(Workspace.open(), "churn", 2, approve=True, reason="me")
    with pytest.raises(ApprovalRefused, match="not an approver"):
        decide(ws, "churn", 2, approve=True, reason="me", approver="eve")
    assert not record_path(ws, 2).exists()


def test_a_timeout_rejects_without_a_listed_approver(ws: Workspace) -> None:
    decide(ws, "churn", 2, approve=False, reason=TIMED_OUT, approver="worker", timed_out=True)
    assert ws.registry.approval_state("churn", 2).decision.reason == TIMED_OUT  # type: ignore[union-attr]


def test_a_version_is_decided_once(ws: Workspace) -> None:
    decide(ws, "churn", 2, approve=False, reason="no")
    with pytest.raises(ApprovalRefused, match="rejected already by ana"):
        decide(ws, "churn", 2, approve=True, reason="changed my mind")
    assert ws.registry.approval_state("churn", 2).status == "rejected"


def test_nothing_to_approve_without_a_requirement_or_after_a_gate_rejection(ws: Workspace) -> None:
    with pytest.raises(ApprovalRefused, match="does not require approval"):
        decide(ws, "churn", 1, approve=True, reason="x")
    v4 = add(ws, "4", passed=False)
    with pytest.raises(ApprovalRefused, match="rejected by its evaluation gate"):
        decide(ws, "churn", v4, approve=True, reason="x")


@pytest.mark.parametrize("where", [40, 120, -40])
def test_a_flipped_byte_in_the_record_is_refused(ws: Workspace, where: int) -> None:
    decide(ws, "churn", 2, approve=True, reason="ok", promote=True)
    raw = bytearray(record_path(ws, 2).read_bytes())
    raw[where] ^= 0x01
    record_path(ws, 2).write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        ws.registry.approval_state("churn", 2)
    with pytest.raises(IntegrityError):
        ws.registry.load("churn", "champion")


def test_a_rejection_edited_into_an_approval_is_refused(ws: Workspace) -> None:
    decide(ws, "churn", 2, approve=False, reason="no")
    path = record_path(ws, 2)
    path.write_bytes(path.read_bytes().replace(b'"rejected"', b'"approved"'))
    with pytest.raises(SignatureError):
        promote_version(ws, "churn", 2, reason="forged")
    assert ws.registry.alias("churn", "champion") == 1


def test_a_deleted_approval_is_tampering_not_pending(ws: Workspace) -> None:
    """The trail names the decision: a missing record is reported, the version is neither served,
    promoted nor listed as waiting."""
    decide(ws, "churn", 2, approve=True, reason="ok", promote=True)
    record_path(ws, 2).unlink()
    with pytest.raises(DecisionRecordMissing, match="decision record deleted.*ana approved churn v2"):
        ws.registry.approval_state("churn", 2)
    with pytest.raises(IntegrityError, match="decision record deleted"):
        ws.registry.load("churn", "champion")
    with pytest.raises(IntegrityError, match="decision record deleted"):
        ws.registry.set_alias("churn", "challenger", 2, actor="ana", reason="again")
    with pytest.raises(IntegrityError, match="decision record deleted"):
        pending(ws)
    assert [v.version for v, r in ws.registry.verify_all() if isinstance(r, DecisionRecordMissing)] == [2]


def test_a_deleted_rejection_cannot_be_overturned(ws: Workspace) -> None:
    """Deleting a rejection and approving is refused as tampering; rejecting again rewrites the
    record from the trail (its approver, reason and time), recorded as a restore."""
    first = decide(ws, "churn", 2, approve=False, reason="bias on region", approver="bo").approval
    record_path(ws, 2).unlink()
    with pytest.raises(DecisionRecordMissing, match="cannot be approved: decision record deleted"):
        decide(ws, "churn", 2, approve=True, reason="now it is fine", promote=True)
    assert not record_path(ws, 2).exists() and ws.registry.alias("churn", "champion") == 1
    assert [e.action for e in ws.audit.entries()].count("model.approve") == 0
    again = decide(ws, "churn", 2, approve=False, reason="whatever")
    assert again.approval == first and again.restored_from is not None
    assert ws.registry.approval_state("churn", 2).decision == first
    restored = [e for e in ws.audit.entries() if e.action == "model.decision_restored"]
    assert [(e.details["from_seq"], e.details["reason"]) for e in restored] == [(again.restored_from, "bias on region")]
    assert ws.audit.verify(ws.trust).ok


def test_a_decision_entry_appended_by_hand_is_never_signed_into_a_record(ws: Workspace) -> None:
    """A forged (un-MACed) approval entry makes v3 fail closed, and a restore refuses to sign it."""
    digest = ws.registry.approval_state("churn", 3).manifest_sha256
    forger = AuditLog(ws.home.audit)  # no MAC key: what someone without the passphrase can append
    forger.append("model.approve", "model:churn:v3", {"approver": "eve", "decision": "approved", "reason": "x",
                                                      "at": "2026-01-01T00:00:00.000000Z", "manifest_sha256": digest},
                  actor=ws.actor())
    with pytest.raises(DecisionRecordMissing):
        promote_version(ws, "churn", 3, reason="forged entry")
    with pytest.raises(AuditChainError, match="cannot be trusted: it carries no MAC"):
        decide(ws, "churn", 3, approve=True, reason="restore")
    assert not record_path(ws, 3).exists()


@pytest.mark.parametrize("cut", ["middle", "tail"])
def test_a_deleted_record_and_a_cut_trail_is_not_pending(ws: Workspace, cut: str) -> None:
    """Removing the decision's entry as well breaks the chain (middle) or falls below the witness
    (tail): an AuditChainError, never a version waiting to be approved."""
    decide(ws, "churn", 2, approve=False, reason="no")
    decide(ws, "churn", 3, approve=False, reason="no either")
    record_path(ws, 2).unlink()
    log = ws.home.audit / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"model:churn:v2"' in line and b"model.reject" in line)
    log.write_bytes(b"".join(lines[:at] + ([] if cut == "tail" else lines[at + 1:])))
    with pytest.raises(AuditChainError):
        ws.registry.approval_state("churn", 2)
    with pytest.raises(AuditChainError):
        decide(ws, "churn", 2, approve=True, reason="gone")
    assert not record_path(ws, 2).exists()


def test_an_approval_copied_from_another_version_is_refused(ws: Workspace) -> None:
    decide(ws, "churn", 2, approve=True, reason="ok")
    record_path(ws, 3).write_bytes(record_path(ws, 2).read_bytes())
    with pytest.raises(SignatureError, match="copied from another version"):
        promote_version(ws, "churn", 3, reason="copied")


def test_editing_the_spec_file_after_training_changes_nothing(ws: Workspace) -> None:
    """The requirement is the signed one: a spec file saying approval = false does not free v2."""
    models = models_folder(ws.settings)
    models.mkdir(parents=True, exist_ok=True)
    (models / "churn.toml").write_text('name = "churn"\ntask = "binary"\nlabel_group = "churn_labels"\n'
                                       'label_column = "churned"\napproval = false\n')
    with pytest.raises(PromotionRefused, match="waits for approval"):
        promote_version(Workspace.open(), "churn", 2, reason="spec edited")


def test_the_signed_spec_cannot_be_edited_to_drop_the_requirement(ws: Workspace) -> None:
    meta = ws.home.registry / "churn" / "2" / "metadata.json"
    doc = json.loads(meta.read_bytes())
    doc["model_spec"]["approval"] = False
    meta.write_text(json.dumps(doc))
    with pytest.raises(SignatureError):
        promote_version(ws, "churn", 2, reason="metadata edited")


@pytest.mark.parametrize("fault", ["approval.staged", "approval.replaced"])
def test_kill_while_recording_a_decision(ws: Workspace, home: Path, fault: str) -> None:
    """The audit entry comes first: a kill before the record is in place leaves an entry and no
    record, reported as such (never pending), and the same decision again completes the record
    from the entry; after it an approval the trail already names; never one it does not."""
    code = ("from tasks.workspace import Workspace; from usecases.approval import decide; "
            "decide(Workspace.open(), 'churn', 2, approve=True, reason='kill')")
    assert kill(code, fault) == -signal.SIGKILL
    ws = Workspace.open()
    assert [e.details["reason"] for e in ws.audit.entries() if e.action == "model.approve"] == ["kill"]
    if fault == "approval.staged":
        with pytest.raises(DecisionRecordMissing, match="audit entry"):
            ws.registry.approval_state("churn", 2)
        assert decide(ws, "churn", 2, approve=True, reason="again").approval.reason == "kill"
    assert ws.registry.approval_state("churn", 2).status == "accepted"
    assert ws.registry.approval_state("churn", 2).decision.reason == "kill"  # type: ignore[union-attr]
    assert ws.audit.verify(ws.trust).ok


@pytest.mark.parametrize("fault", ["approval.staged", "approval.replaced"])
def test_kill_while_restoring_a_deleted_record(ws: Workspace, fault: str) -> None:
    """The restore's entry comes before its record: a kill leaves the record missing (and reported),
    and the restore run again completes it; the trail verifies throughout."""
    decide(ws, "churn", 2, approve=False, reason="no")
    record_path(ws, 2).unlink()
    code = ("from tasks.workspace import Workspace; from usecases.approval import decide; "
            "decide(Workspace.open(), 'churn', 2, approve=False, reason='restore')")
    assert kill(code, fault) == -signal.SIGKILL
    ws = Workspace.open()
    if fault == "approval.staged":
        with pytest.raises(DecisionRecordMissing):
            ws.registry.approval_state("churn", 2)
        assert decide(ws, "churn", 2, approve=False, reason="again").restored_from is not None
    assert ws.registry.approval_state("churn", 2).decision.reason == "no"  # type: ignore[union-attr]
    assert ws.audit.verify(ws.trust).ok


def kill(code: str, fault: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT).returncode


def later(monkeypatch: pytest.MonkeyPatch, hours: float) -> None:
    """The injected clock: every reader's "now" moves ``hours`` past the real one."""
    import driftline.clock

    real = driftline.clock.utc_now()
    monkeypatch.setattr(driftline.clock, "utc_now", lambda: real + timedelta(hours=hours))


def test_a_pending_version_times_out_in_local_mode(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """72 h (the default) after its signed created_at a pending version reads as rejected everywhere,
    with nothing written; it can no longer be approved, and a rejection is still recorded."""
    later(monkeypatch, 71)
    assert ws.registry.approval_state("churn", 2).status == "pending"
    assert [(w.version, w.expired) for w in pending(ws)] == [(2, False), (3, False)]
    later(monkeypatch, 73)
    state = ws.registry.approval_state("churn", 2)
    assert (state.status, state.timed_out, state.decision) == ("rejected", True, None)
    assert not (ws.home.registry / "churn" / "approvals").exists()
    with pytest.raises(PromotionRefused, match="approval timed out"):
        promote_version(ws, "churn", 2, reason="late")
    with pytest.raises(InputError, match="'rejected'"):
        ws.registry.load("churn", 2)
    with pytest.raises(ApprovalRefused, match="cannot be approved: approval timed out.*72 h"):
        decide(ws, "churn", 2, approve=True, reason="late")
    assert [(w.version, w.expired) for w in pending(ws)] == [(2, True), (3, True)]
    decide(ws, "churn", 3, approve=False, reason="too late anyway")
    assert ws.registry.approval_state("churn", 3).decision.reason == "too late anyway"  # type: ignore[union-attr]
    assert [w.version for w in pending(ws)] == [2]


def test_the_timeout_is_the_signed_specs(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    v = add(ws, "5", spec={**SPEC, "approval_timeout_hours": 2})
    later(monkeypatch, 3)
    assert ws.registry.approval_state("churn", v).timed_out
    assert not ws.registry.approval_state("churn", 2).timed_out
    meta = ws.home.registry / "churn" / str(v) / "metadata.json"
    meta.write_bytes(meta.read_bytes().replace(b'"approval_timeout_hours":2', b'"approval_timeout_hours":200'))
    with pytest.raises(SignatureError):
        ws.registry.approval_state("churn", v)


def test_a_decision_before_the_timeout_stands_after_it(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    decide(ws, "churn", 2, approve=True, reason="in time", promote=True)
    later(monkeypatch, 1000)
    assert ws.registry.load("churn", "champion").version == 2


def test_expire_records_the_timed_out_rejections_once(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    decide(ws, "churn", 3, approve=True, reason="in time")
    assert expire(ws).rejected == ()  # nothing is due yet: nothing written
    later(monkeypatch, 73)
    done = expire(ws)
    assert [(a.version, a.decision, a.reason) for a in done.rejected] == [(2, "rejected", TIMED_OUT)]
    state = ws.registry.approval_state("churn", 2)
    assert state.decision is not None and state.decision.reason == TIMED_OUT
    rejects = [e for e in ws.audit.entries() if e.action == "model.reject"]
    assert [(e.subject, e.details["timed_out"]) for e in rejects] == [("model:churn:v2", True)]
    assert expire(ws).rejected == ()
    assert ws.audit.verify(ws.trust).ok


@pytest.mark.parametrize("fault", ["approval.staged", "approval.replaced"])
def test_kill_while_expiring(ws: Workspace, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """A kill between the timed-out rejection's entry and its record: the run again completes it."""
    import driftline.clock

    real = driftline.clock.utc_now()
    with monkeypatch.context() as m:
        m.setattr(driftline.clock, "utc_now", lambda: real - timedelta(hours=100))
        old = add(ws, "4")
    code = "from tasks.workspace import Workspace; from usecases.approval import expire; expire(Workspace.open())"
    assert kill(code, fault) == -signal.SIGKILL
    ws = Workspace.open()
    if fault == "approval.staged":
        with pytest.raises(DecisionRecordMissing):
            ws.registry.approval_state("churn", old)
        assert [a.version for a in expire(ws).rejected] == [old]
    assert ws.registry.approval_state("churn", old).decision.reason == TIMED_OUT  # type: ignore[union-attr]
    assert expire(ws).rejected == ()
    assert ws.audit.verify(ws.trust).ok


def test_the_trail_is_walked_only_for_missing_records_and_once_per_log_state(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a decided version reads its record, not the trail; listing many pending versions
    walks the trail once while the log stays as it is."""
    import usecases.approval_trail as trail

    decide(ws, "churn", 2, approve=True, reason="ok", promote=True)
    add(ws, "4")
    walks: list[int] = []
    real = trail._walk
    monkeypatch.setattr(trail, "_walk", lambda audit, mark: walks.append(1) or real(audit, mark))
    for _ in range(3):
        assert ws.registry.load("churn", "champion").version == 2
    assert walks == []
    assert [w.version for w in pending(ws)] == [3, 4] and [w.version for w in pending(ws)] == [3, 4]
    assert walks == [1]
