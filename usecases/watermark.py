"""How far the last reconcile got, kept in ``state/reconcile.json``, and the audit scan it bounds.

The watermark records, at the moment a reconcile started, the audit trail's size, byte offset and
head hash, the Delta version reconciled per feature group, and per model the last version number
and the alias-history length reconciled. A start then reads only the audit entries, Delta commits,
versions and alias changes that are newer. It is an optimisation only: a missing, damaged or
stale watermark (the audit trail no longer continues from the recorded head) makes the next
reconcile scan everything, never skip anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from driftline.atomic import write_atomic
from driftline.canonical import canonical_json
from driftline.errors import AuditChainError
from governance.audit import TORN_TAIL_HINT, ZERO_HASH, AuditEntry

FORMAT = "driftline.reconcile-watermark/v1"


@dataclass(frozen=True)
class AuditMark:
    """A point in ``audit/log.jsonl``: entries before it, its byte offset, the last entry's hash."""

    size: int = 0
    offset: int = 0
    head: str = ZERO_HASH


@dataclass(frozen=True)
class Watermark:
    """What the last reconcile covered. Round-trip law: ``Watermark.load(p)`` after
    ``w.save(p)`` equals ``w``; ``Watermark()`` (nothing covered) is the full-scan mark."""

    audit: AuditMark = AuditMark()
    groups: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    alias_changes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Watermark":
        """The stored watermark, or the empty one when it is missing or unreadable (scan all)."""
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("format") != FORMAT:
                return cls()
            audit = doc["audit"]
            return cls(audit=AuditMark(int(audit["size"]), int(audit["offset"]), str(audit["head"])),
                       groups={str(k): int(v) for k, v in doc["groups"].items()},
                       versions={str(k): int(v) for k, v in doc["versions"].items()},
                       alias_changes={str(k): int(v) for k, v in doc["alias_changes"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        write_atomic(path, canonical_json({
            "format": FORMAT, "audit": {"size": self.audit.size, "offset": self.audit.offset,
                                        "head": self.audit.head},
            "groups": self.groups, "versions": self.versions, "alias_changes": self.alias_changes}) + b"\n")


@dataclass(frozen=True)
class AuditScan:
    """The entries after a mark, and the mark at the size the log had when the scan began."""

    entries: tuple[AuditEntry, ...]
    start: AuditMark
    full: bool


def scan_audit(log_path: Path, mark: AuditMark) -> AuditScan:
    """Entries after ``mark`` (or all of them, when the log does not continue from ``mark``)."""
    try:
        end = os.stat(log_path).st_size
    except FileNotFoundError:
        return AuditScan((), AuditMark(), full=mark == AuditMark())
    full = mark.offset > end
    read = [] if full else list(_entries_from(log_path, mark.offset))
    entries = [entry for _, entry in read]
    if not full and mark.offset and (
            (entries and (entries[0].seq != mark.size + 1 or entries[0].prev_hash != mark.head))
            or (not entries and mark.offset != end)):
        full = True
    if full:
        mark = AuditMark()
        read = list(_entries_from(log_path, 0))
        entries = [entry for _, entry in read]
    start, offset = mark, mark.offset
    for length, entry in read:  # the mark at the size seen first: later appends are rescanned
        offset += length
        if offset <= end:
            start = AuditMark(entry.seq, offset, entry.hash)
    return AuditScan(tuple(entries), start, full=full or mark == AuditMark())


def _entries_from(path: Path, offset: int) -> Iterator[tuple[int, AuditEntry]]:
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line in handle:
            if not line.endswith(b"\n"):
                raise AuditChainError(f"{path} ends in a torn line", hint=TORN_TAIL_HINT)
            yield len(line), AuditEntry.from_line(line)
