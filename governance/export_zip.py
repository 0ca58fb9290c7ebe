"""The one-file form of a compliance bundle: a canonical zip, written and read safely.

A bundle whose target ends in ``.zip`` is the same files as the folder form in one archive. The
archive is *canonical*: members stored uncompressed (deflate output differs between zlib builds),
sorted by name, dated 1980-01-01, mode 0644, no comment, no extra fields. So the verifier can
rebuild the archive from the members it read and demand the very same bytes: a flipped byte in a
header, a date, the central directory or the comment — places no digest covers — fails as surely
as one in a file, which the manifest's digests catch. Reading is bounded and refuses what an
extractor could be tricked by: absolute or ``..`` names, backslashes, symlinks and other
non-regular members, duplicates, too many members or bytes (a zip bomb is read no further than
the bound, whatever its headers claim). Members are read into memory, never extracted by name.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

__all__ = ["MAX_MEMBERS", "MAX_TOTAL_BYTES", "ZipRefused", "canonical_zip", "read_zip"]

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 2 << 30  # 2 GiB of members in all; a bundle is entries and small JSON files
_DATE = (1980, 1, 1, 0, 0, 0)


class ZipRefused(Exception):
    """A zip the verifier will not read; ``str()`` names the member and the reason."""


def canonical_zip(files: Mapping[str, bytes]) -> bytes:
    """The canonical archive of ``files`` (POSIX name -> bytes). Law: for any archive ``z`` that
    ``read_zip`` accepts, ``canonical_zip(read_zip(z)) == z`` exactly when ``z`` was made here."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # unix, so external_attr carries the mode below
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def _safe_name(name: str) -> None:
    path = PurePosixPath(name)
    if (not name or "\\" in name or "\x00" in name or path.is_absolute() or ".." in path.parts
            or name.endswith("/") or ":" in path.parts[0]):
        raise ZipRefused(f"member {name!r} is not a plain relative file name (absolute, '..', "
                         "a folder or a drive); the archive is not a driftline bundle")


def read_zip(path: Path, *, max_members: int = MAX_MEMBERS, max_total: int = MAX_TOTAL_BYTES) -> dict[str, bytes]:
    """Every member of the archive at ``path``, checked (see the module doc); raises ZipRefused."""
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # noqa: BLE001 -- hostile bytes: see the member read below
        raise ZipRefused(f"{path.name} is not a readable zip ({exc})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ZipRefused(f"{len(infos)} members, more than the {max_members} a bundle may hold")
        files: dict[str, bytes] = {}
        total = 0
        for info in infos:
            _safe_name(info.filename)
            mode = info.external_attr >> 16
            if info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                raise ZipRefused(f"member {info.filename!r} is not a regular file (a link or a folder)")
            if info.filename in files:
                raise ZipRefused(f"member {info.filename!r} appears twice")
            try:
                with archive.open(info) as member:
                    # Read at most what is left of the bound plus one byte: the headers' sizes
                    # are the archive's word, not a limit.
                    data = member.read(max_total - total + 1)
            # zipfile raises many types on hostile bytes (RuntimeError for a flipped "encrypted"
            # flag, zlib.error, EOFError...): any of them means the member cannot be trusted.
            except Exception as exc:  # noqa: BLE001

                raise ZipRefused(f"member {info.filename!r} cannot be read ({exc})") from exc
            total += len(data)
            if total > max_total:
                raise ZipRefused(f"the members hold more than {max_total} bytes; refused unread")
            files[info.filename] = data
    return files
