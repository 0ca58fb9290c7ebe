"""The decisions the audit trail holds on a version: what makes a decision outlive its record file.

A decision is two things written in order: the ``model.approve`` / ``model.reject`` entry, then the
signed record ``approvals/<n>.json``. The record is what readers check on every load; the entry
is what makes the decision authoritative when the record is gone. :func:`trail_decision` is the
registry's ``trail`` callback (wired by the workspace): asked only when a required record is
missing, it walks the trail as ``audit verify`` does (each line's hash on its raw bytes, the
links between entries, their sequence, and that the trail still holds the head the witness saw)
and parses the decision lines through the audit reader's :meth:`AuditEntry.from_line`, so an
edited, removed or rolled-back entry is an :class:`AuditChainError`, never a version that quietly
waits again. One walk per state of the log file (inode, size, mtime) serves every version a
command asks about. Entries naming another manifest (a version folder since replaced) do not
count. :func:`check_entry_mac` lets a key holder's restore refuse an entry no key vouches for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.errors import AuditChainError, InputError
from governance.audit import WITNESS_LOG
from governance.audit_entry import ZERO_HASH, AuditEntry
from governance.audit_verify import line_digest, loads
from registry.approvals import Approval, TrailDecision

if TYPE_CHECKING:
    from governance.audit import AuditLog
    from governance.witness import WitnessMark
    from registry.keys import SigningKey

DECISION_ACTIONS = frozenset({"model.approve", "model.reject"})
_HINT = "run `python -m flows audit verify` to find the damage"


def subject(model: str, version: int) -> str:
    """The audit subject of a version's decision (``model:<name>:v<n>``)."""
    return f"model:{model}:v{version}"


def decision_entries(audit: "AuditLog", model: str, version: int, manifest_sha256: str) -> list[AuditEntry]:
    """The decision entries on ``model`` v``version`` as it is (its manifest), oldest first, the
    whole chain checked on the way (:class:`AuditChainError` at the first break)."""
    wanted = subject(model, version)
    return [e for e in _index(audit).get(wanted, []) if e.details.get("manifest_sha256") == manifest_sha256]


# One walk per state of the log file, shared by every version a command asks about (`registry list`
# over many pending versions walks once). The key changes with every append; an in-place edit that
# kept size and mtime could only make a cached answer name a decision, which fails closed.
_cache: dict[tuple[object, ...], dict[str, list[AuditEntry]]] = {}


def _index(audit: "AuditLog") -> dict[str, list[AuditEntry]]:
    mark = audit.witness.seen(WITNESS_LOG) if audit.witness is not None else None
    try:
        st = audit.log_path.stat()
    except FileNotFoundError:
        return _walk(audit, mark)
    key = (str(audit.log_path), st.st_ino, st.st_size, st.st_mtime_ns, mark)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _walk(audit, mark)
    return _cache[key]


def _walk(audit: "AuditLog", mark: "WitnessMark | None") -> dict[str, list[AuditEntry]]:
    """Decision entries by subject. Each line's hash is checked on its raw bytes and its links on
    the parsed line, as ``audit verify`` walks (orjson when installed); only decision lines are
    parsed into entries, each hash-checked again by the reader."""
    found: dict[str, list[AuditEntry]] = {}
    previous, seq = ZERO_HASH, 0
    if not audit.log_path.exists():
        return found
    with open(audit.log_path, "rb") as handle:
        for raw in handle:
            seq, previous = _link(raw, seq, previous, mark, found)
    if mark is not None and seq < mark.size:
        raise AuditChainError(f"the audit trail holds {seq} entries, the witness saw {mark.size}: it was "
                              "rolled back", hint="restore the data home's audit/ folder from a backup")
    return found


def _link(raw: bytes, seq: int, previous: str, mark: "WitnessMark | None",
          found: dict[str, list[AuditEntry]]) -> tuple[int, str]:
    """Check one line against the one before it; keep it when it is a decision."""
    seq += 1
    digests = line_digest(raw[:-1]) if raw.endswith(b"\n") else None
    if digests is None or digests[0] != digests[1]:
        raise AuditChainError(f"audit entry {seq} is torn, or does not match its hash", hint=_HINT)
    try:
        obj = loads(raw)
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or obj.get("seq") != seq or obj.get("prev_hash") != previous:
        raise AuditChainError(f"audit entry {seq} does not follow the entry before it", hint=_HINT)
    if mark is not None and seq == mark.size and obj["hash"] != mark.head_hash:
        raise AuditChainError(f"audit entry {seq} is not the one the witness saw there: the trail was "
                              "rewritten", hint=_HINT)
    if obj.get("action") in DECISION_ACTIONS:
        found.setdefault(str(obj.get("subject")), []).append(AuditEntry.from_line(raw))
    return seq, str(obj["hash"])


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
