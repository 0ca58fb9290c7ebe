"""What a new checkpoint may cover: only entries a key holder wrote, on top of a trusted anchor.

A checkpoint's signature vouches for every entry up to its size, so signing whatever the log
holds would launder an entry that someone appended by hand with a correct chain hash. Before
signing, :func:`check_coverable` therefore walks the entries after the *anchor* (the newer of
the witness's mark and the last checkpoint whose signature the trust store accepts) and requires
of each: its hash, its link to the one before, and a valid MAC by the signing key's derived MAC
key (:func:`governance.checkpoints.derive_entry_mac_key`). The anchor entry itself must still
have the hash the anchor recorded, or the log was rolled back or rewritten underneath it. Only
entries after the anchor are read (from the end of the file), so the cost is that of one run's
entries, not of the whole log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from driftline.errors import AuditChainError, IntegrityError
from governance.audit_entry import ZERO_HASH, AuditEntry
from governance.checkpoints import Checkpoint, EntryMacKey, Verifier
from governance.witness import WitnessMark

_RESTORE = ("restore audit/log.jsonl and audit/checkpoints.jsonl from a backup, or run "
            "`python -m flows audit verify` to see what changed")


@dataclass(frozen=True)
class Anchor:
    """The newest point of the log already vouched for: ``size`` entries ending in ``head_hash``."""

    size: int
    head_hash: str
    source: str  # for messages: "the witness <file>", "checkpoint line N", "the start of the log"


def last_valid_checkpoint(path: Path, verifier: Verifier, size: int) -> tuple[int, Checkpoint] | None:
    """(line number, checkpoint) of the last checkpoint at most ``size`` whose signature verifies."""
    if not path.exists():
        return None
    lines = path.read_bytes().split(b"\n")[:-1]  # a torn last line is refused by the caller
    for number in range(len(lines), 0, -1):
        try:
            cp = Checkpoint.from_line(lines[number - 1])
            verifier.verify(cp.key_id, cp.payload(), cp.signature_bytes())
        except IntegrityError:  # forged, foreign, revoked or unreadable: it vouches for nothing
            continue
        if cp.size <= size:
            return number, cp
    return None


def choose_anchor(mark: WitnessMark | None, witness_name: str,
                  found: tuple[int, Checkpoint] | None, size: int) -> Anchor:
    """The newer of the witness's mark and the last valid checkpoint; refuses a log the witness outgrew."""
    anchor = Anchor(0, ZERO_HASH, "the start of the log")
    if mark is not None and mark.size > 0:
        if mark.size > size:
            raise AuditChainError(
                f"the audit log holds {size} entries but {witness_name} saw a signed checkpoint at "
                f"{mark.size} entries (head {mark.head_hash[:16]}, {mark.time}): the log was rolled back "
                f"or truncated; refusing to sign a checkpoint over it", hint=_RESTORE)
        anchor = Anchor(mark.size, mark.head_hash, witness_name)
    if found is not None and found[1].size > anchor.size:
        anchor = Anchor(found[1].size, found[1].head_hash, f"checkpoint line {found[0]}")
    return anchor


def check_coverable(entries: Sequence[AuditEntry], anchor: Anchor, mac_key: EntryMacKey | None) -> None:
    """Raise :class:`AuditChainError` naming the first entry after ``anchor`` a checkpoint must not cover.

    ``entries`` runs from the anchor entry (seq ``anchor.size``; absent when it is 0) to the last.
    """
    rest = list(entries)
    prev = ZERO_HASH
    if anchor.size > 0:
        first = rest.pop(0) if rest else None
        if first is None or first.seq != anchor.size or first.hash != anchor.head_hash:
            raise AuditChainError(
                f"audit entry {anchor.size} is not the one {anchor.source} vouched for (head "
                f"{anchor.head_hash[:16]}): the log was rolled back or rewritten; refusing to sign "
                f"a checkpoint over it", hint=_RESTORE)
        prev = first.hash
    expected = anchor.size + 1
    for entry in rest:
        if entry.seq != expected or entry.prev_hash != prev:
            raise AuditChainError(f"audit entry {expected} does not chain onto entry {expected - 1}; "
                                  f"refusing to sign a checkpoint over it", hint=_RESTORE)
        problem = entry.mac_problem(mac_key) if mac_key is not None else None
        if problem is not None:
            raise AuditChainError(
                f"refusing to sign a checkpoint over audit entry {entry.seq} ({entry.action!r} on "
                f"{entry.subject!r}): {problem}",
                hint=f"a checkpoint only vouches for entries written with the signing key; find out who "
                     f"wrote entry {entry.seq}, then restore audit/log.jsonl from a backup holding "
                     f"only entries before it (those after {anchor.source} are unverified)")
        prev, expected = entry.hash, expected + 1
