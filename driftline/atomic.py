"""Crash-safe file writes: write to a temporary sibling, fsync it, rename it into place, fsync
the folder. A reader therefore sees the old bytes or the new bytes, never a torn file.

``fault_point(name)`` is the fault-injection hook the crash tests arm: when the environment
variable ``DRIFTLINE_FAULT`` equals ``name`` the process kills itself there with SIGKILL, exactly as
a power cut or ``kill -9`` would. It costs one dictionary look-up when unarmed.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path


def fault_point(name: str) -> None:
    """Die with SIGKILL here if the tests armed this point (``DRIFTLINE_FAULT=name``)."""
    if os.environ.get("DRIFTLINE_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
