"""Staging of a new registry version: its files are written and fsynced in a hidden
``.staging-<pid>-<uuid>`` folder beside the versions, which the registry renames into place
only when the version is whole and signed. Folders left by processes that died mid-way are
swept under the model's lock; folders of live processes are left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from driftline.atomic import fsync_dir
from driftline.errors import InputError
from registry._statement import check_resource_name


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_files(staging: Path, files: Mapping[str, Path | bytes], *, reserved: set[str] | frozenset[str],
                fresh: bool = True) -> None:
    """Write a new version's files into a fresh staging folder (or, ``fresh=False``, add them to
    one already made: files derived from the version's record), each fsynced; a name already
    written is refused, never overwritten."""
    if fresh:
        staging.mkdir()
    for name, source in files.items():
        check_resource_name(name)
        if name in reserved or any(part.startswith(".") for part in name.split("/")):
            raise InputError(f"file name {name!r} is reserved or hidden", hint="rename the file")
        target = staging / name
        if target.exists():
            raise InputError(f"file name {name!r} is given twice for one version",
                             hint="the registry derives this file itself; do not pass it among the files")
        if isinstance(source, (bytes, bytearray)):
            write_file(target, bytes(source))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            fd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def fsync_tree(folder: Path) -> None:
    for current, _dirs, _files in os.walk(folder, topdown=False):
        fsync_dir(Path(current))
