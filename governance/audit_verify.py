"""Verification of the audit trail: walk the hash chain, then check every signed checkpoint.

This is the auditor's side of :mod:`governance.audit`, kept apart because it must be fast (one
million entries in well under ten seconds) and must never raise for a damaged log: every problem
becomes part of an :class:`AuditVerification` naming the first bad entry. The walk hashes each
line's raw bytes with the ``"hash":"…",`` segment cut out (the line is canonical JSON and
``hash`` sorts between ``details`` and ``prev_hash``, so that is exactly what was hashed), parses
the line once (orjson when installed, else the standard library) for ``seq`` and ``prev_hash``,
and remembers the hashes at checkpoint sizes only. A checkpoint that disagrees with the chain is
blamed on the first entry no earlier valid checkpoint vouches for: that is the earliest entry
that may have been rewritten. Given the witness's mark, the log must still hold the witnessed
head and a checkpoint at least that far (see :mod:`governance.witness`). Entries may carry a
``mac`` field (sorted after ``hash``, so the line trick still holds); MACs need the signing key's
derived key and are checked when a checkpoint is signed, not here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftline.errors import AuditChainError, IntegrityError, UntrustedKeyError
from governance.checkpoints import Checkpoint, Verifier
from governance.witness import WitnessMark

_fast_loads: Callable[[bytes], Any] | None
try:  # orjson parses about five times faster; the standard library gives the same values.
    import orjson
    _fast_loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None

_HASH_MARK = b',"hash":"'
_FIELDS = frozenset({"seq", "time", "actor", "action", "subject", "details", "prev_hash", "hash"})
_FIELDS_MAC = _FIELDS | {"mac"}  # entries since MACs; the MAC is checked when signing, not here
_ZERO = "0" * 64
_REPAIR = ("restore the file from a backup; if only the last line is torn, "
           "`python -m flows audit repair-tail` cuts it")


def loads(data: bytes) -> Any:
    """Parse JSON bytes; raises ValueError (orjson's error is a ValueError too)."""
    return _fast_loads(data) if _fast_loads is not None else json.loads(data)


def line_digest(line: bytes) -> tuple[bytes, bytes] | None:
    """(stored hash, recomputed hash) of one line without its newline, or None if it has no hash."""
    i = line.rfind(_HASH_MARK)
    if i < 0 or line[i + 73:i + 75] != b'",':
        return None
    return line[i + 9:i + 73], hashlib.sha256(line[:i + 1] + line[i + 75:]).hexdigest().encode()


@dataclass(frozen=True)
class AuditVerification:
    """Outcome of :meth:`AuditLog.verify`.

    ``entries`` counts entries that verified before the first chain problem (all of them when the
    chain is intact); ``unsigned_tail`` is how many of those no valid checkpoint vouches for yet;
    ``first_bad_seq`` is the seq of the first bad or missing entry, ``bad_checkpoint`` the 1-based
    line of the first bad checkpoint; ``problems`` lists every problem found, ``problem`` the first.
    ``last_checkpoint`` is the last valid checkpoint (what a witness records); ``witness`` says
    which witness the result relied on, or that there was none.
    """

    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None
    unsigned_tail: int
    bad_checkpoint: int | None = None
    problems: tuple[str, ...] = field(default=())
    last_checkpoint: Checkpoint | None = None
    witness: str | None = None

    def __post_init__(self) -> None:
        if self.ok != (self.problem is None) or self.ok == bool(self.problems):
            raise ValueError("AuditVerification: ok must be true exactly when there is no problem")


def _walk_chain(path: Path, wanted: set[int]) -> tuple[int, dict[int, str], tuple[int, str] | None]:
    """(verified entries, hash at each wanted size, first problem as (seq, message) or None)."""
    heads: dict[int, str] = {}
    prev = _ZERO
    seq = 0
    if not path.exists():
        return 0, heads, None
    with open(path, "rb") as handle:
        for raw in handle:
            seq += 1
            if raw[-1:] != b"\n":
                return seq - 1, heads, (seq, f"entry {seq} is a torn last line ({len(raw)} bytes without "
                                             f"a newline): an append was cut off; {_REPAIR}")
            digests = line_digest(raw[:-1])
            if digests is None:
                return seq - 1, heads, (seq, f"entry {seq} (line {seq}) has no hash field; {_REPAIR}")
            stored, computed = digests
            if stored != computed:
                return seq - 1, heads, (seq, f"entry {seq} (line {seq}) does not match its hash: its "
                                             f"content was changed; {_REPAIR}")
            try:
                obj = loads(raw)
            except ValueError:
                return seq - 1, heads, (seq, f"entry {seq} (line {seq}) is not valid JSON; {_REPAIR}")
            if not isinstance(obj, dict) or (obj.keys() != _FIELDS_MAC and obj.keys() != _FIELDS):
                return seq - 1, heads, (seq, f"entry {seq} (line {seq}) lacks the entry fields; {_REPAIR}")
            if obj["seq"] != seq:
                return seq - 1, heads, (seq, f"line {seq} holds entry {obj['seq']!r}, expected {seq}: "
                                             f"an entry was deleted, inserted or moved; {_REPAIR}")
            if obj["prev_hash"] != prev:
                return seq - 1, heads, (seq, f"entry {seq} does not chain onto entry {seq - 1}: an "
                                             f"entry before it was removed or replaced; {_REPAIR}")
            prev = obj["hash"]
            if seq in wanted:
                heads[seq] = prev
    return seq, heads, None


def _read_checkpoints(path: Path) -> tuple[list[Checkpoint], tuple[int, str] | None]:
    """Checkpoints up to the first unreadable line, and that line's problem."""
    if not path.exists():
        return [], None
    found: list[Checkpoint] = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    for number, line in enumerate(complete, 1):
        try:
            found.append(Checkpoint.from_line(line))
        except AuditChainError as exc:
            return found, (number, f"checkpoint line {number} is unreadable ({exc.message})")
    if torn:
        return found, (len(complete) + 1, f"checkpoint line {len(complete) + 1} is torn "
                                          f"(no newline); {_REPAIR}")
    return found, None


def _revoked(verifier: Verifier, key_id: str) -> bool:
    """Whether the verifier knows ``key_id`` as revoked (a trust store does; a bare PEM set cannot).

    A checkpoint signed before its key was revoked is retired rather than forged: it vouches for
    nothing, but it must agree with the chain, and a later checkpoint by a trusted key must cover
    the entries it covered (every command that revokes a key signs such a checkpoint).
    """
    is_revoked = getattr(verifier, "is_revoked", None)
    return bool(is_revoked and is_revoked(key_id))


def _witness_issue(mark: WitnessMark, name: str, verified: int, heads: dict[int, str],
                   covered: int) -> str | None:
    """Why the log no longer holds what the witness saw, or None when it does."""
    saw = f"the witness {name} saw {mark.size} entries (head {mark.head_hash[:16]}, {mark.time})"
    if verified < mark.size:
        return (f"the log holds {verified} intact entries but {saw}: the trail was rolled back, "
                f"truncated or deleted; {_REPAIR}")
    if heads.get(mark.size) != mark.head_hash:
        return (f"entry {mark.size} is not the one {saw}: the log was rolled back and rewritten; "
                f"{_REPAIR}")
    if covered < mark.size:
        return (f"the checkpoints vouch for {covered} entries but {saw} under a signed checkpoint: "
                f"checkpoints.jsonl was deleted, truncated or rolled back; {_REPAIR}")
    return None


def verify_log(log_path: Path, checkpoint_path: Path, verifier: Verifier, *,
               witnessed: WitnessMark | None = None, witness_name: str = "") -> AuditVerification:
    """Verify ``log_path`` against ``checkpoint_path`` (and ``witnessed``); see :class:`AuditVerification`."""
    checkpoints, cp_problem = _read_checkpoints(checkpoint_path)
    wanted = {cp.size for cp in checkpoints} | ({witnessed.size} if witnessed else set())
    verified, heads, chain_problem = _walk_chain(log_path, wanted)
    # (seq or None, problem, checkpoint line or None); the earliest bad seq is reported first.
    issues: list[tuple[int | None, str, int | None]] = []
    if chain_problem is not None:
        issues.append((chain_problem[0], chain_problem[1], None))
    if cp_problem is not None:
        issues.append((None, cp_problem[1], cp_problem[0]))
    vouched = 0  # entries covered by the last valid checkpoint so far
    last: Checkpoint | None = None
    retired: list[tuple[int, Checkpoint]] = []  # signed by a key revoked since
    for number, cp in enumerate(checkpoints, 1):
        try:
            verifier.verify(cp.key_id, cp.payload(), cp.signature_bytes())
        except IntegrityError as exc:
            if isinstance(exc, UntrustedKeyError) and _revoked(verifier, cp.key_id):
                retired.append((number, cp))
                continue
            issues.append((None, f"checkpoint line {number} (size {cp.size}) has a bad signature: "
                                 f"{exc}", number))
            continue
        if cp.size < vouched:
            issues.append((None, f"checkpoint line {number} (size {cp.size}) goes back from size "
                                 f"{vouched}: checkpoints were reordered", number))
            continue
        if cp.size > verified:
            if chain_problem is None:
                issues.append((verified + 1, f"checkpoint line {number} vouches for {cp.size} entries "
                                             f"but the log holds {verified}: entries {verified + 1}.."
                                             f"{cp.size} were deleted; {_REPAIR}", number))
            continue
        if heads.get(cp.size) != cp.head_hash:
            issues.append((vouched + 1, f"checkpoint line {number} (size {cp.size}) disagrees with "
                                        f"the chain: an entry in {vouched + 1}..{cp.size} was "
                                        f"rewritten and the chain rehashed; {_REPAIR}", number))
            continue
        vouched, last = cp.size, cp
    covered = vouched  # what the witness compares: retired checkpoints that agree count too
    for number, cp in retired:
        if cp.size > vouched:
            issues.append((None, f"checkpoint line {number} was signed by revoked key {cp.key_id[:16]} and no "
                                 f"checkpoint by a trusted key covers its {cp.size} entries; sign a new "
                                 f"checkpoint with the active key", number))
        elif heads.get(cp.size) != cp.head_hash:
            issues.append((None, f"checkpoint line {number} (revoked key {cp.key_id[:16]}) disagrees with "
                                 f"the chain at size {cp.size}", number))
        else:
            covered = max(covered, cp.size)
    if witnessed is not None and (problem := _witness_issue(witnessed, witness_name, verified, heads, covered)):
        issues.append((None, problem, None))
    issues.sort(key=lambda item: (item[0] is None, item[0] or 0))
    first = issues[0] if issues else None
    bad_cps = [item[2] for item in issues if item[2] is not None]
    return AuditVerification(
        ok=first is None, entries=verified, checkpoints=len(checkpoints),
        first_bad_seq=first[0] if first else None, problem=first[1] if first else None,
        unsigned_tail=max(0, verified - vouched), bad_checkpoint=min(bad_cps) if bad_cps else None,
        problems=tuple(item[1] for item in issues), last_checkpoint=last)
