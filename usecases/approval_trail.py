"""The decisions the audit trail holds on a version: what makes a decision outlive its record file.

A decision is two things written in order: the ``model.approve`` / ``model.reject`` entry, then the
signed record ``approvals/<n>.json``. The record is what readers check on every load; the entry
is what makes the decision authoritative when the record is gone. :func:`trail_decision` is the
registry's ``trail`` callback (wired by the workspace): asked only when a required record is
missing, it reads the trail through the audit log's reader (each entry's hash checked) and checks
the links between entries, their sequence, and that the trail still holds the head the witness
saw, so an edited, removed or rolled-back entry is an :class:`AuditChainError`, never a version
that quietly waits again. Entries naming another manifest (a version folder since replaced) do
not count. :func:`check_entry_mac` lets a key holder's restore refuse an entry no key vouches for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.errors import AuditChainError, InputError
from governance.audit import WITNESS_LOG
from governance.audit_entry import ZERO_HASH, AuditEntry
from registry.approvals import Approval, TrailDecision

if TYPE_CHECKING:
    from governance.audit import AuditLog
    from registry.keys import SigningKey

DECISION_ACTIONS = frozenset({"model.approve", "model.reject"})
_HINT = "run `python -m flows audit verify` to find the damage"


def subject(model: str, version: int) -> str:
    """The audit subject of a version's decision (``model:<name>:v<n>``)."""
    return f"model:{model}:v{version}"


def decision_entries(audit: "AuditLog", model: str, version: int, manifest_sha256: str) -> list[AuditEntry]:
    """The decision entries on ``model`` v``version`` as it is (its manifest), oldest first, the
    whole chain checked on the way (:class:`AuditChainError` at the first break)."""
    wanted, found = subject(model, version), []
    mark = audit.witness.seen(WITNESS_LOG) if audit.witness is not None else None
    previous, seq = ZERO_HASH, 0
    for entry in audit.entries():
        seq += 1
        if entry.seq != seq or entry.prev_hash != previous:
            raise AuditChainError(f"audit entry {entry.seq} (line {seq}) does not follow the entry before it",
                                  hint=_HINT)
        previous = entry.hash
        if mark is not None and seq == mark.size and entry.hash != mark.head_hash:
            raise AuditChainError(f"audit entry {seq} is not the one the witness saw there: the trail was "
                                  "rewritten", hint=_HINT)
        if (entry.action in DECISION_ACTIONS and entry.subject == wanted
                and entry.details.get("manifest_sha256") == manifest_sha256):
            found.append(entry)
    if mark is not None and seq < mark.size:
        raise AuditChainError(f"the audit trail holds {seq} entries, the witness saw {mark.size}: it was "
                              "rolled back", hint="restore the data home's audit/ folder from a backup")
    return found


def as_approval(entry: AuditEntry, model: str, version: int) -> Approval:
    """The record a decision entry stands for (its approver, reason and time; the actor's host)."""
    d, actor = entry.details, entry.actor
    try:
        return Approval(model=model, version=version, manifest_sha256=str(d["manifest_sha256"]),
                        decision=d["decision"], approver=str(d["approver"]), reason=str(d["reason"]),
                        at=str(d["at"]), host=str(actor.get("host", "")),
                        flow_run_id=actor.get("flow_run_id"))
    except (KeyError, InputError) as exc:
        raise AuditChainError(f"audit entry {entry.seq} ({entry.action} of {model} v{version}) is not a whole "
                              f"decision ({exc})", hint=_HINT) from None


def trail_decision(audit: "AuditLog", model: str, version: int, manifest_sha256: str) -> TrailDecision | None:
    """The first decision the trail records on this version, or None (the version never was decided)."""
    entries = decision_entries(audit, model, version, manifest_sha256)
    if not entries:
        return None
    return TrailDecision(as_approval(entries[0], model, version), entries[0].seq)


def check_entry_mac(audit: "AuditLog", found: TrailDecision, key: "SigningKey") -> None:
    """Refuse to sign a record from an entry whose MAC the active key does not vouch for (one
    appended by hand): a restore rewrites what driftline recorded, nothing else."""
    from governance.checkpoints import entry_mac_key_of

    entry = next((e for e in audit.entries() if e.seq == found.seq), None)
    problem = "it is gone" if entry is None else entry.mac_problem(entry_mac_key_of(key))
    if problem is not None:
        raise AuditChainError(f"audit entry {found.seq}, the decision to restore, cannot be trusted: {problem}",
                              hint=_HINT + "; restore the record from a backup")
