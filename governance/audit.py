"""The audit trail: an append-only, hash-chained JSON-lines log with signed checkpoints.

Files: ``audit/log.jsonl`` (one entry a line) and ``audit/checkpoints.jsonl``. Each line of the
log is the canonical JSON of an :class:`AuditEntry`; the entry's ``hash`` is sha256 over the
canonical JSON of the entry without ``hash`` and ``prev_hash`` is the previous entry's hash
("0"*64 for the first), so changing, deleting, reordering or inserting any entry breaks the chain.
Signatures live in checkpoints (see :mod:`governance.checkpoints`), as a transparency log signs its
tree head, because per-entry ECDSA would make verifying a million entries far slower than the
10-second target. Because ``"hash"`` sorts between ``"details"`` and ``"prev_hash"``, removing the
``"hash":"…",`` segment from a line gives exactly the hashed bytes, so ``verify`` hashes raw bytes
and never re-serialises. Appends follow Optuna's journal file: take an OS-level lock (filelock),
read seq and head hash from the file's tail (O(1) per append), write the whole line with one
``O_APPEND`` write, flush, fsync. A torn last line (no trailing newline: a power cut mid-write) is
never silently accepted: ``verify`` reports it, ``append`` refuses to chain onto it, and only an
explicit :meth:`AuditLog.repair_torn_tail` removes it, leaving an entry that records what it cut.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from driftline.atomic import fault_point, fsync_dir
from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import AuditChainError, InputError, LockTimeout
from governance.actor import Actor
from governance.audit_verify import AuditVerification, loads, verify_log
from governance.checkpoints import Checkpoint, Signer, Verifier, sign_checkpoint

# What to do about a torn last line, wherever it is found (append, checkpoint, export).
TORN_TAIL_HINT = ("check it with `python -m flows audit verify`, then cut it with "
                  "`python -m flows audit repair-tail` (AuditLog.repair_torn_tail)")

ZERO_HASH = "0" * 64
_FIELDS = frozenset({"seq", "time", "actor", "action", "subject", "details", "prev_hash", "hash"})
_TAIL_BLOCK = 8192

__all__ = ["AuditEntry", "AuditLog", "AuditVerification", "Checkpoint", "ZERO_HASH", "format_time"]


def format_time(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds and a ``Z``: fixed width, so strings sort as times do."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry. Round-trip law: ``AuditEntry.from_line(e.to_line()) == e``."""

    seq: int
    time: str
    actor: Mapping[str, Any]
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The entry without its hash: what ``hash`` is computed over."""
        return {"seq": self.seq, "time": self.time, "actor": dict(self.actor), "action": self.action,
                "subject": self.subject, "details": dict(self.details), "prev_hash": self.prev_hash}

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}

    def to_line(self) -> bytes:
        return canonical_json(self.to_dict()) + b"\n"

    @classmethod
    def create(cls, *, seq: int, time: str, actor: Mapping[str, Any], action: str, subject: str,
               details: Mapping[str, Any], prev_hash: str) -> "AuditEntry":
        if not action or not isinstance(action, str) or not isinstance(subject, str):
            raise InputError(f"audit action {action!r} / subject {subject!r} must be non-empty text")
        body = {"seq": seq, "time": time, "actor": dict(actor), "action": action, "subject": subject,
                "details": dict(details), "prev_hash": prev_hash}
        try:
            digest = sha256_hex(canonical_json(body))
        except (TypeError, ValueError) as exc:
            raise InputError(f"audit details of {action!r} are not plain JSON: {exc}",
                             hint="pass strings, numbers, booleans, lists and dicts only") from exc
        return cls(hash=digest, **body)

    @classmethod
    def from_line(cls, line: bytes) -> "AuditEntry":
        """Parse one log line and check that its hash matches its content."""
        try:
            raw = loads(line)
        except ValueError as exc:
            raise AuditChainError(f"unreadable audit line ({len(line)} bytes): {exc}",
                                  hint="run `python -m flows audit verify` to locate the damage") from exc
        if not isinstance(raw, dict) or set(raw) != _FIELDS:
            raise AuditChainError("audit line does not have the entry fields",
                                  hint="run `python -m flows audit verify` to locate the damage")
        entry = cls(**raw)
        if sha256_hex(canonical_json(entry.body())) != entry.hash:
            raise AuditChainError(f"audit entry {entry.seq} does not match its hash",
                                  hint="run `python -m flows audit verify` to locate the damage")
        return entry


def _normalize_bound(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"time bound {value!r} is not ISO-8601",
                         hint="use a date like 2024-05-01 or a time like 2024-05-01T12:00:00Z") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_time(moment)


class AuditLog:
    """The audit trail under one data home's ``audit/`` folder."""

    def __init__(self, root: Path, *, lock_timeout: float = 60.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise InputError(f"audit root {root} is a file, expected a folder")
        if lock_timeout <= 0:
            raise InputError(f"lock_timeout must be positive, got {lock_timeout}")
        self.root = root
        self.log_path = root / "log.jsonl"
        self.checkpoint_path = root / "checkpoints.jsonl"
        self._lock_timeout = lock_timeout
        self._clock = clock or _utc_now

    # -- writing ---------------------------------------------------------------------------
    def _locked(self) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".audit.lock"), timeout=self._lock_timeout)

    def _acquire(self, lock: FileLock) -> None:
        try:
            lock.acquire()
        except Timeout as exc:
            raise LockTimeout(f"audit lock {lock.lock_file} held for over {self._lock_timeout}s",
                              hint="another driftline process is writing the audit trail; retry") from exc

    def append(self, action: str, subject: str, details: Mapping[str, Any], *,
               actor: Actor) -> AuditEntry:
        """Append one entry durably and return it. Raises :class:`AuditChainError` on a torn tail."""
        lock = self._locked()
        self._acquire(lock)
        try:
            fault_point("audit.locked")
            created = not self.log_path.exists()
            fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                seq, prev = _read_tail(fd, self.log_path)
                entry = AuditEntry.create(seq=seq + 1, time=format_time(self._clock()),
                                          actor=actor.to_dict(), action=action, subject=subject,
                                          details=details, prev_hash=prev)
                fault_point("audit.before_write")
                _write_all(fd, entry.to_line())
                fault_point("audit.written")
                os.fsync(fd)
                fault_point("audit.synced")
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.root)
            return entry
        finally:
            lock.release()

    def checkpoint(self, signer: Signer) -> Checkpoint:
        """Sign the current head (size, head hash) and append it to ``checkpoints.jsonl``."""
        lock = self._locked()
        self._acquire(lock)
        try:
            if not self.log_path.exists():
                raise AuditChainError("cannot checkpoint an empty audit log", hint="append first")
            fd = os.open(self.log_path, os.O_RDONLY)
            try:
                size, head = _read_tail(fd, self.log_path)
            finally:
                os.close(fd)
            if size == 0:
                raise AuditChainError("cannot checkpoint an empty audit log", hint="append first")
            cp = sign_checkpoint(signer, size=size, head_hash=head, time=format_time(self._clock()))
            cfd = os.open(self.checkpoint_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                if os.fstat(cfd).st_size and os.pread(cfd, 1, os.fstat(cfd).st_size - 1) != b"\n":
                    raise AuditChainError(f"{self.checkpoint_path} ends in a torn line",
                                          hint=TORN_TAIL_HINT)
                fault_point("audit.checkpoint_before_write")
                _write_all(cfd, cp.to_line())
                fault_point("audit.checkpoint_written")
                os.fsync(cfd)
            finally:
                os.close(cfd)
            return cp
        finally:
            lock.release()

    def repair_torn_tail(self, *, actor: Actor) -> tuple[AuditEntry, ...]:
        """Cut a torn last line off either file, explicitly, recording each cut as an entry.

        Only bytes after the last newline are removed; complete entries are never touched.
        """
        cuts: list[tuple[str, bytes]] = []
        lock = self._locked()
        self._acquire(lock)
        try:
            for path in (self.log_path, self.checkpoint_path):
                if not path.exists():
                    continue
                data = path.read_bytes()
                keep = data.rfind(b"\n") + 1
                if keep < len(data):
                    with open(path, "r+b") as handle:
                        handle.truncate(keep)
                        handle.flush()
                        os.fsync(handle.fileno())
                    cuts.append((path.name, data[keep:]))
        finally:
            lock.release()
        return tuple(self.append("audit.torn_tail_removed", name,
                                 {"removed_bytes": len(cut), "removed_sha256": sha256_hex(cut)},
                                 actor=actor) for name, cut in cuts)

    # -- reading ---------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """(number of entries, hash of the last one), read from the tail of the file."""
        if not self.log_path.exists():
            return 0, ZERO_HASH
        fd = os.open(self.log_path, os.O_RDONLY)
        try:
            return _read_tail(fd, self.log_path)
        finally:
            os.close(fd)

    def entries(self, *, since: str | None = None, until: str | None = None) -> Iterator[AuditEntry]:
        """Entries with ``since <= time < until`` (ISO-8601 bounds, UTC when no zone is given)."""
        low, high = _normalize_bound(since), _normalize_bound(until)
        if not self.log_path.exists():
            return
        with open(self.log_path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    raise AuditChainError(f"{self.log_path} ends in a torn line",
                                          hint=TORN_TAIL_HINT)
                entry = AuditEntry.from_line(line)
                if (low is None or entry.time >= low) and (high is None or entry.time < high):
                    yield entry

    def checkpoints(self) -> tuple[Checkpoint, ...]:
        if not self.checkpoint_path.exists():
            return ()
        lines = self.checkpoint_path.read_bytes().splitlines()
        return tuple(Checkpoint.from_line(line) for line in lines if line)

    def verify(self, verifier: Verifier) -> AuditVerification:
        """Walk the chain and the checkpoints; a bad log gives ``ok=False``, never an exception."""
        if not self.root.is_dir():
            raise InputError(f"audit folder {self.root} does not exist or is not a folder")
        return verify_log(self.log_path, self.checkpoint_path, verifier)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_tail(fd: int, path: Path) -> tuple[int, str]:
    """(seq, hash) of the last entry, reading backwards from the end only as far as needed."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, ZERO_HASH
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditChainError(f"{path} ends in a torn line (an append was cut off)",
                              hint=TORN_TAIL_HINT)
    block = _TAIL_BLOCK
    while True:
        start = max(0, size - 1 - block)
        chunk = os.pread(fd, size - 1 - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0 or start == 0:
            line = chunk[cut + 1:]
            break
        block *= 4
    entry = AuditEntry.from_line(line)
    return entry.seq, entry.hash
