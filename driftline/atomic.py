"""Crash-safe file writes: write to a temporary sibling, fsync it, rename it into place, fsync
the folder. A reader therefore sees the old bytes or the new bytes, never a torn file. This is
the one implementation of write-fsync-rename; every module that replaces a file calls
``write_atomic`` (appends to journals fsync in place and are not replacements).

``fault_point(name)`` is the fault-injection hook the crash tests arm: when the environment
variable ``DRIFTLINE_FAULT`` equals ``name`` the process kills itself there with SIGKILL, exactly as
a power cut or ``kill -9`` would. It costs one dictionary look-up when unarmed.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import BinaryIO


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


def write_atomic(path: Path, data: bytes | BinaryIO, *, mode: int = 0o644, prefix: str | None = None,
                 staged: str | None = None, replaced: str | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    ``data`` is bytes or a readable binary stream (copied from its start in 1 MiB blocks, so a
    file larger than memory can be written). ``staged`` and ``replaced`` name fault points armed
    by kill tests: ``staged`` fires when the temporary file is whole and fsynced but not yet in
    place, ``replaced`` after the rename but before the folder is fsynced. ``prefix`` names the
    temporary file (default ``.<name>.``), for callers whose sweepers look for it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, (bytes, bytearray, memoryview)):
                handle.write(data)
            else:
                data.seek(0)
                shutil.copyfileobj(data, handle, length=1 << 20)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if staged:
            fault_point(staged)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if replaced:
        fault_point(replaced)
    fsync_dir(path.parent)
