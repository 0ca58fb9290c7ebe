"""A verified version's approval standing, and the decisions that change it (the registry's approval desk).

:class:`ApprovalState` is what a reader sees: the version's signed gate status, what its signed
spec asks of a person (:func:`registry.approvals.requirement`), the verified decision record and
the signed deadline. :class:`ApprovalDesk` computes it for :class:`registry.versions.ModelRegistry`
and writes decisions: it reads the audit trail only where a record is missing (a load of a decided
version costs one record, not a walk of the trail), refuses to use a pending, timed-out or
person-rejected version, records a decision once (the audit entry first, under the model's lock),
and rewrites a deleted record from the decision the trail holds. It is handed the registry's
verify, lock, signing-key and clock callables rather than the registry itself, so the import
direction stays ``versions -> approval_state -> approvals``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from driftline.clock import format_time
from registry.aliases import PromotionRefused
from registry.approvals import (Approval, ApprovalBook, ApprovalRefused, DecisionRecordMissing, Requirement,
                                TrailDecision, deadline, manifest_digest, requirement)
from registry.keys import SigningKey
from registry.signing import VerifiedModel
from registry.trust import TrustStore

Status = Literal["accepted", "rejected"]
Effective = Literal["accepted", "rejected", "pending"]
# (model, version, manifest digest) -> the decision the audit trail holds on that version, if any
Trail = Callable[[str, int, str], TrailDecision | None]


@dataclass(frozen=True)
class ApprovalState:
    """A verified version's standing for use: its signed gate status, what its signed spec asks of a
    person, and the verified decision. ``status`` is ``pending`` while a required decision is missing
    and ``expires_at`` (signed ``created_at`` + signed timeout) is later than ``now``; past it, with no
    decision, ``rejected`` (``timed_out``), derived, nothing written."""

    model: str
    version: int
    gate_status: Status
    requirement: Requirement
    decision: Approval | None
    manifest_sha256: str
    expires_at: datetime | None = None
    now: datetime | None = None

    @property
    def timed_out(self) -> bool:
        """Required, undecided, and past its deadline: rejected as ``approval timed out``."""
        return (self.gate_status == "accepted" and self.requirement.required and self.decision is None
                and self.expires_at is not None and self.now is not None and self.now >= self.expires_at)

    @property
    def status(self) -> Effective:
        if self.gate_status != "accepted" or not self.requirement.required:
            return self.gate_status
        if self.decision is None:
            return "rejected" if self.timed_out else "pending"
        return "accepted" if self.decision.approved else "rejected"


def timeout_text(state: ApprovalState) -> str:
    """Why a timed-out version is rejected, with the signed times it is derived from."""
    expires = format_time(state.expires_at) if state.expires_at else "?"
    return (f"approval timed out: no decision within {state.requirement.timeout_hours:g} h of its registration "
            f"(the wait ended at {expires})")


class ApprovalDesk:
    """Approval standing and decisions for the models under ``root`` (the registry's collaborator).

    ``verify(model, version)`` is the registry's full verification, ``lock(model)`` its per-model
    lock, ``signing_key()`` the active key (asked only when a record is written), ``trail`` the
    audit trail lookup (None: no trail, a missing record reads as pending) and ``now()`` the clock.
    """

    def __init__(self, root: Path, trust: TrustStore, *, verify: Callable[[str, int], VerifiedModel],
                 lock: Callable[[str], AbstractContextManager[Any]], signing_key: Callable[[], SigningKey],
                 trail: Trail | None, now: Callable[[], datetime]) -> None:
        self.root = Path(root)
        self.trust = trust
        self._verify = verify
        self._lock = lock
        self._signing_key = signing_key
        self._trail = trail
        self._now = now

    def book(self, model: str) -> ApprovalBook:
        return ApprovalBook(self.root / model, self.trust)

    def standing(self, model: str, version: int, verified: VerifiedModel, *,
                 missing_ok: bool = False) -> ApprovalState:
        """The state of an already verified version; :class:`DecisionRecordMissing` when a required
        record is absent but the trail names a decision (unless ``missing_ok``)."""
        record = verified.extra["driftline"]
        status: Status = "accepted" if record.get("status") == "accepted" else "rejected"
        need = requirement(record)
        digest = manifest_digest(verified.resources)
        decision = self.book(model).read(version, manifest_sha256=digest) if need.required else None
        state = ApprovalState(model, version, status, need, decision, digest, deadline(record, need), self._now())
        if need.required and status == "accepted" and decision is None and not missing_ok:
            # Only here, where the record is missing, is the trail read: a load of a decided
            # version costs one record, not a walk of the trail.
            earlier = self._trail(model, version, digest) if self._trail is not None else None
            if earlier is not None:
                raise self._missing(state, earlier)
        return state

    def _missing(self, state: ApprovalState, earlier: TrailDecision) -> DecisionRecordMissing:
        d = earlier.approval
        verb = "approve" if d.approved else "reject"
        return DecisionRecordMissing(
            f"decision record deleted: {self.book(state.model).path(state.version)} is missing, but audit "
            f"entry {earlier.seq} records that {d.approver} {d.decision} {state.model} v{state.version} at {d.at} "
            f"({d.reason})", decision=d, seq=earlier.seq,
            hint=f"restore the file from a backup, or rewrite it from the trail with `python -m flows registry "
                 f"{verb} {state.model} {state.version} --reason TEXT` (the trail's decision is kept); "
                 "the opposite decision is refused")

    def state(self, model: str, version: int) -> ApprovalState:
        """Verify the version and read its approval standing."""
        return self.standing(model, version, self._verify(model, version))

    def refuse_unapproved(self, model: str, version: int) -> None:
        """:class:`PromotionRefused` unless the version may be used: pending, timed out or rejected by a person."""
        state = self.state(model, version)
        if state.status == "pending":
            raise PromotionRefused(f"{model} v{version} waits for approval, it cannot be used yet",
                                   hint=f"python -m flows registry approve {model} {version} --reason TEXT")
        if state.timed_out:
            raise PromotionRefused(f"{model} v{version}: {timeout_text(state)}",
                                   hint="promote another version, or train a new one")
        if state.gate_status == "accepted" and state.status == "rejected" and state.decision is not None:
            raise PromotionRefused(f"{model} v{version} was rejected by {state.decision.approver} "
                                   f"({state.decision.reason})", hint="promote another version")

    def record(self, decision: Approval, *, record: Callable[[Approval], object] | None = None) -> None:
        """Write the signed decision once, the audit append (``record``) first, under the model's lock."""
        with self._lock(decision.model):
            state = self.state(decision.model, decision.version)  # DecisionRecordMissing
            if state.decision is not None:
                raise ApprovalRefused(
                    f"{decision.model} v{decision.version} was {state.decision.decision} already by "
                    f"{state.decision.approver} at {state.decision.at}",
                    hint="a version is decided once; train a new version to decide again")
            if decision.approved and state.timed_out:
                raise ApprovalRefused(f"{decision.model} v{decision.version} cannot be approved: {timeout_text(state)}",
                                      hint="train a new version; `registry reject` still records the rejection")
            if decision.manifest_sha256 != state.manifest_sha256:
                raise ApprovalRefused(f"the decision names manifest {decision.manifest_sha256[:12]}, "
                                      f"{decision.model} v{decision.version} is {state.manifest_sha256[:12]}",
                                      hint="decide on the version as it is now")
            key = self._signing_key()
            if record is not None:
                record(decision)
            self.book(decision.model).write(decision, signer=key)

    def restore(self, model: str, version: int, *,
                check: Callable[[TrailDecision], object] | None = None) -> TrailDecision | None:
        """Rewrite a missing record from the trail's decision (``check`` first, under the model's lock);
        None when a record is there or the trail names no decision."""
        with self._lock(model):
            verified = self._verify(model, version)
            state = self.standing(model, version, verified, missing_ok=True)
            if state.decision is not None or not state.requirement.required or self._trail is None:
                return None
            earlier = self._trail(model, version, state.manifest_sha256)
            if earlier is None:
                return None
            key = self._signing_key()
            if check is not None:
                check(earlier)
            self.book(model).write(earlier.approval, signer=key)
            return earlier
