"""Landing files read as data only: opened without following links, and bounded in what they cost.

Whoever may write ``landing/`` must not thereby read the data home's secrets or exhaust its
memory. So a drop is opened from its resolved folder with ``O_NOFOLLOW`` (a link is refused, never
followed), ``fstat`` must show a regular file (a FIFO, device or folder is refused), and a file
named under the landing root must still lie under it once its folder is resolved. A path refused
here (:class:`RefusedFile`) is never read: the quarantine records its name and reason only. The
one pass that hashes an opened drop also measures its lines (text drops) against
:class:`ReadLimits`, so a drop with a line longer than ``max_line_bytes`` is refused
(:class:`PoisonedDrop`) before a parser allocates it; the readers bound decompressed and field
sizes with the same limits. Parsers are then handed :func:`fd_path` — the very file checked and
hashed, never a name that may since point elsewhere — with globbing off.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import BinaryIO

from driftline.canonical import stream_sha256
from driftline.errors import IngestError

_CHUNK = 1 << 20
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on one drop (the settings ``DRIFTLINE_INGEST__*``); ``max_file_bytes`` None: unbounded."""

    max_file_bytes: int | None = None
    max_decompressed_bytes: int = 4 << 30
    max_line_bytes: int = 16 << 20
    max_field_bytes: int = 1 << 20


# The defaults as one shared value (frozen, so sharing it as a default argument is safe).
DEFAULT_READ_LIMITS = ReadLimits()


class RefusedFile(IngestError):
    """A path that is not read at all (a link, a special file, a file outside landing): its bytes
    are never copied anywhere; the quarantine keeps its name and the reason."""


class PoisonedDrop(IngestError):
    """A drop past a :class:`ReadLimits` bound: quarantined whole, and not read again later."""


def size_text(n: int) -> str:
    """``16 MiB``, ``1 KiB``, ``300 bytes``: a limit as a person reads it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, its folder resolved (its own name is not followed), lies under ``root``."""
    try:
        (Path(path).parent.resolve() / Path(path).name).relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


def open_drop_file(path: Path, landing_root: Path | None = None) -> BufferedReader:
    """Open a drop as data: RefusedFile for a link, a non-regular file, or (when the name lies under
    ``landing_root``) a folder that resolves outside it. The caller closes the handle."""
    path = Path(path)
    if landing_root is not None:
        named_under = Path(os.path.abspath(path)).is_relative_to(Path(os.path.abspath(landing_root)))
        if named_under and not inside(path, landing_root):
            raise RefusedFile(f"{path.name}: its folder {path.parent} leads outside the landing folder "
                              f"{landing_root}; the file was not read",
                              hint="drop real files in real folders under landing/<group>/, not links")
    try:
        fd = os.open(path.parent.resolve() / path.name,
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or path.is_symlink():
            raise RefusedFile(f"{path.name} is a symbolic link; links are never followed and it was not read",
                              hint="copy the file itself into landing/<group>/") from exc
        raise RefusedFile(f"{path.name}: cannot be opened: {exc.strerror}",
                          hint="check that the file exists and is readable") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise RefusedFile(f"{path.name} is {kind}, not a regular file; it was not read",
                          hint="drop regular files only")
    return os.fdopen(fd, "rb")


def drop_digest(path: Path, landing_root: Path | None = None) -> str | None:
    """The sha256 of a drop's bytes, read through :func:`open_drop_file`; None for a path refused
    there (a link, a FIFO, a file outside landing), which is never read: ingestion quarantines it
    by name. The watcher and the arrival events hash drops through this, so that neither follows a
    link to a secret (whose digest would leave in an event) nor blocks on a FIFO."""
    try:
        handle = open_drop_file(path, landing_root)
    except RefusedFile:
        return None
    with handle:
        return stream_sha256(handle)


def fd_path(handle: BinaryIO) -> str:
    """A name for exactly the opened file, for parsers that take names (Linux' ``/proc/self/fd``)."""
    if os.path.isdir("/proc/self/fd"):
        return f"/proc/self/fd/{handle.fileno()}"
    return str(Path(handle.name))  # elsewhere the checked name; parsers are called with glob=False


class LineMeter:
    """Finds a line longer than ``limit`` in a stream fed chunk by chunk, with two byte searches per
    chunk: chunks are at most ``limit`` long (:meth:`chunk_size`), so such a line always crosses a
    chunk boundary, and only the bytes since the last newline need counting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.run = 0  # bytes since the last newline
        self.lines = 0

    def chunk_size(self) -> int:
        return max(1, min(_CHUNK, self.limit))

    def feed(self, chunk: bytes) -> int | None:
        """The 1-based number of a line longer than the limit, once one is seen; else None."""
        first = chunk.find(b"\n")
        if first < 0:
            self.run += len(chunk)
            return self.lines + 1 if self.run > self.limit else None
        if self.run + first > self.limit:
            return self.lines + 1
        self.lines += chunk.count(b"\n")
        self.run = len(chunk) - chunk.rfind(b"\n") - 1
        return None


def line_problem(name: str, line: int, limit: int) -> str:
    return (f"{name}: line {line} is longer than {size_text(limit)} (DRIFTLINE_INGEST__MAX_LINE_BYTES); "
            "the drop was quarantined whole")


@dataclass(frozen=True)
class Scan:
    """One pass over an opened drop: its sha256 and, if it breaks a limit, why (else None)."""

    digest: str
    problem: str | None


def scan(handle: BinaryIO, name: str, limits: ReadLimits, *, text: bool) -> Scan:
    """Hash the whole drop (its digest keeps a poisoned drop from being read again) and, for text,
    check its line lengths; memory stays at one chunk. The handle is left at its start."""
    digest = hashlib.sha256()
    meter = LineMeter(limits.max_line_bytes)
    size, problem = 0, None
    handle.seek(0)
    while chunk := handle.read(meter.chunk_size() if text else _CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if problem is not None:
            continue
        if limits.max_file_bytes is not None and size > limits.max_file_bytes:
            problem = (f"{name}: file is larger than {size_text(limits.max_file_bytes)} "
                       "(DRIFTLINE_INGEST__MAX_FILE_BYTES); the drop was quarantined whole")
        elif text and (line := meter.feed(chunk)) is not None:
            problem = line_problem(name, line, limits.max_line_bytes)
    handle.seek(0)
    return Scan(digest.hexdigest(), problem)


def name_digest(path: Path) -> str:
    """How a refused file is known in the quarantine: by the sha256 of its path (its bytes are never read)."""
    return hashlib.sha256(b"refused:" + os.fsencode(os.path.abspath(path))).hexdigest()


def format_is_text(path: Path) -> bool:
    """Whether a drop's lines are measured as it is scanned: plain CSV and JSON Lines (a gzip's
    lines are measured as it is decompressed; Parquet has no lines)."""
    return Path(path).suffix.lower() in (".csv", ".jsonl", ".ndjson")
