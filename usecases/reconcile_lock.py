"""The lock that keeps reconcile from mistaking a live writer for a crashed one: ``state/reconcile.lock``.

Every writer whose change reconcile knows (a Delta commit with its ``ingest`` entries, a
predictions commit with ``model.score``, a version's rename with ``model.register``, an alias
swap with its ``model.promote``/``model.rollback``/``model.alias``) holds this file SHARED from
before its change until its audit entry is durable; :func:`usecases.reconcile.reconcile` holds it
EXCLUSIVE. So reconcile only ever sees changes whose writer has finished or died, and a writer's
entry is never recovered a second time while it is still on its way. Writers do not exclude each
other, and a writer costs one ``flock`` call when no reconcile is running. A writer killed
mid-way loses its lock with its file descriptors (the kernel drops it), so the next reconcile
proceeds and recovers what the dead writer left.

Why ``fcntl.flock`` and not ``filelock``: filelock has no shared mode. The lock file is never
deleted (deleting a flock file lets two holders lock two different files). A ``fork`` without
``exec`` would share the lock with the child; the descriptor is not inherited across ``exec``.
One lock must not be taken twice in one thread in conflicting modes: reconcile runs before a
writer takes its shared lock, never inside it (the same process would wait for itself).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from driftline.errors import AuditUnwritableError, LockTimeout

LOCK_FILE = "reconcile.lock"
DEFAULT_TIMEOUT = 600.0
_FIRST_POLL, _LAST_POLL = 0.005, 0.2  # seconds between tries while the other side holds the lock


@contextmanager
def writer_lock(state: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold ``state/reconcile.lock`` shared: a change and its audit entry, with no reconcile between."""
    with _flock(Path(state) / LOCK_FILE, fcntl.LOCK_SH, timeout) as acquired:
        if not acquired:
            raise LockTimeout(
                f"a reconcile held {Path(state) / LOCK_FILE} exclusively for over {timeout:g}s; "
                "a writer expected it within that time",
                hint="another driftline command is starting and recovering lost audit entries; "
                     "retry when it has finished (nothing was changed)")
        yield


@contextmanager
def reconcile_lock(state: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold ``state/reconcile.lock`` exclusive: no writer is between a change and its audit entry."""
    path = Path(state) / LOCK_FILE
    with _flock(path, fcntl.LOCK_EX, timeout) as acquired:
        if not acquired:
            raise LockTimeout(
                f"{path} was held by a writer (or another reconcile) for over {timeout:g}s; "
                "reconcile waits until no change is between its commit and its audit entry",
                hint=f"retry when the running driftline commands finish; a stopped process holding it "
                     f"shows in `fuser -v {path}`")
        yield


@contextmanager
def _flock(path: Path, mode: int, timeout: float) -> Iterator[bool]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inheritable across exec (PEP 446)
    except OSError as exc:
        raise AuditUnwritableError(
            f"cannot open the reconcile lock {path} ({exc.strerror or exc}); "
            "expected a writable state folder in the data home",
            hint=f"make {path.parent} a writable folder; nothing was changed") from None
    try:
        yield _acquire(fd, mode, timeout)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(fd: int, mode: int, timeout: float) -> bool:
    """One non-blocking try (the usual case), then tries with growing pauses until ``timeout``.
    Polling, not a blocking flock: a blocking call cannot be given a timeout without signals."""
    deadline = time.monotonic() + max(timeout, 0.0)
    pause = _FIRST_POLL
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, _LAST_POLL)
