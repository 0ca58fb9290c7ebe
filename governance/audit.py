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
Two promises go beyond the chain. Each new entry carries a MAC by the signing key's derived MAC
key, and a checkpoint is only signed over entries whose MAC holds (:mod:`governance.checkpoint_guard`),
so an entry appended by hand is never laundered by the next signature. And the last verified
checkpoint is kept by a :class:`~governance.witness.Witness` outside the data home, so deleting
or truncating ``checkpoints.jsonl``, or rolling both files back together, fails ``verify``.
The line format itself lives in :mod:`governance.audit_entry`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from driftline.atomic import fault_point, fsync_dir
from driftline.canonical import sha256_hex
from driftline.clock import format_time, utc_now
from driftline.errors import AuditChainError, InputError, LockTimeout
from governance.actor import Actor
from governance.audit_entry import (
    TORN_TAIL_HINT,
    ZERO_HASH,
    AuditEntry,
    read_back,
    read_tail,
)
from governance.audit_verify import AuditVerification, verify_log
from governance.checkpoint_guard import (
    check_coverable,
    choose_anchor,
    last_valid_checkpoint,
)
from governance.checkpoints import (
    Checkpoint,
    EntryMacKey,
    Signer,
    Verifier,
    sign_checkpoint,
)
from governance.witness import Witness, WitnessMark

WITNESS_LOG = "audit"  # the audit trail's mark in a witness file

__all__ = ["AuditEntry", "AuditLog", "AuditVerification", "Checkpoint", "TORN_TAIL_HINT", "ZERO_HASH",
           "format_time"]


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
    """The audit trail under one data home's ``audit/`` folder.

    ``mac_key`` gives the MAC key of the active signing key, asked for only when an entry is
    appended or a checkpoint signed (so reading and verifying need no passphrase); ``trust``
    gives the verifier of past checkpoints (the anchor of :meth:`checkpoint`); ``witness`` keeps
    the last verified checkpoint outside the data home. The data home's workspace wires all three.
    A log built without ``mac_key`` writes entries without MACs and its checkpoints check none:
    that is the pre-MAC behaviour, kept for the pure tests and the benchmark only.
    """

    def __init__(self, root: Path, *, lock_timeout: float = 60.0,
                 clock: Callable[[], datetime] | None = None,
                 mac_key: Callable[[], EntryMacKey] | None = None,
                 trust: Callable[[], Verifier] | None = None,
                 witness: Witness | None = None) -> None:
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise InputError(f"audit root {root} is a file, expected a folder")
        if lock_timeout <= 0:
            raise InputError(f"lock_timeout must be positive, got {lock_timeout}")
        self.root = root
        self.log_path = root / "log.jsonl"
        self.checkpoint_path = root / "checkpoints.jsonl"
        self.witness = witness
        self._lock_timeout = lock_timeout
        self._clock = clock or utc_now
        self._mac_source = mac_key
        self._mac_key: EntryMacKey | None = None
        self._trust = trust

    def _entry_mac_key(self) -> EntryMacKey | None:
        # Asked for outside the audit lock: making the first key appends `key.init` itself.
        if self._mac_key is None and self._mac_source is not None:
            self._mac_key = self._mac_source()
        return self._mac_key

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
        """Append one entry durably (MACed when the log has a MAC key) and return it.

        Raises :class:`AuditChainError` on a torn tail.
        """
        mac_key = self._entry_mac_key()
        lock = self._locked()
        self._acquire(lock)
        try:
            fault_point("audit.locked")
            created = not self.log_path.exists()
            fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                seq, prev = read_tail(fd, self.log_path)
                entry = AuditEntry.create(seq=seq + 1, time=format_time(self._clock()),
                                          actor=actor.to_dict(), action=action, subject=subject,
                                          details=details, prev_hash=prev, mac_key=mac_key)
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
        """Sign the current head (size, head hash), append it to ``checkpoints.jsonl``, advance the witness.

        Refuses (:class:`AuditChainError` naming the entry) when the log was rolled back below the
        witness's mark, or when an entry after the anchor lacks a valid MAC: see
        :mod:`governance.checkpoint_guard`.
        """
        mac_key = self._entry_mac_key()
        lock = self._locked()
        self._acquire(lock)
        try:
            if not self.log_path.exists():
                raise AuditChainError("cannot checkpoint an empty audit log", hint="append first")
            if _torn(self.checkpoint_path):
                raise AuditChainError(f"{self.checkpoint_path} ends in a torn line", hint=TORN_TAIL_HINT)
            fd = os.open(self.log_path, os.O_RDONLY)
            try:
                size, head = read_tail(fd, self.log_path)
                if size == 0:
                    raise AuditChainError("cannot checkpoint an empty audit log", hint="append first")
                mark = self.witness.seen(WITNESS_LOG) if self.witness else None
                found = (last_valid_checkpoint(self.checkpoint_path, self._trust(), size)
                         if self._trust is not None else None)
                anchor = choose_anchor(mark, f"the witness {self.witness.path if self.witness else ''}",
                                       found, size)
                check_coverable(read_back(fd, self.log_path, anchor.size), anchor, mac_key)
            finally:
                os.close(fd)
            cp = sign_checkpoint(signer, size=size, head_hash=head, time=format_time(self._clock()))
            cfd = os.open(self.checkpoint_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                fault_point("audit.checkpoint_before_write")
                _write_all(cfd, cp.to_line())
                fault_point("audit.checkpoint_written")
                os.fsync(cfd)
            finally:
                os.close(cfd)
            fault_point("audit.checkpoint_synced")
            if self.witness is not None:
                self.witness.advance(WITNESS_LOG, WitnessMark(cp.size, cp.head_hash, cp.time))
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
            return read_tail(fd, self.log_path)
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
        """Walk the chain and the checkpoints, then compare with the witness; never raises for a bad log.

        A bad log gives ``ok=False``. With a witness, the log must still hold the witnessed head
        and a checkpoint covering it (else rolled back, stripped or deleted); a good result moves
        the witness to the last valid checkpoint, or records the first mark (first use).
        """
        mark = self.witness.seen(WITNESS_LOG) if self.witness else None
        if not self.root.is_dir():
            if mark is not None:
                raise AuditChainError(
                    f"audit folder {self.root} is gone, but the witness {self.witness.path} saw "  # type: ignore[union-attr]
                    f"{mark.size} entries (head {mark.head_hash[:16]}, {mark.time}): the trail was deleted",
                    hint="restore the data home's audit/ folder from a backup")
            raise InputError(f"audit folder {self.root} does not exist or is not a folder")
        name = str(self.witness.path) if self.witness else ""
        result = verify_log(self.log_path, self.checkpoint_path, verifier, witnessed=mark, witness_name=name)
        if self.witness is None:
            return replace(result, witness="no witness configured: a rollback of the whole trail "
                                           "would go unseen")
        if mark is None:
            note = f"no witness existed (first use); recorded one in {name}"
        else:
            note = f"witness {name}: saw {mark.size} entries (head {mark.head_hash[:16]}, {mark.time})"
        last = result.last_checkpoint
        if result.ok and last is not None and (mark is None or last.size > mark.size):
            self.witness.advance(WITNESS_LOG, WitnessMark(last.size, last.head_hash, last.time))
        elif mark is None:
            note = "no witness existed (first use) and no valid checkpoint to record"
        return replace(result, witness=note)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _torn(path: Path) -> bool:
    """Whether ``path`` ends in a line without its newline (a write cut off)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
