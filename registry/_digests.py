"""File digests of a model directory, as the ``files`` serialization of model-signing defines them.

Every regular file under the directory is named by its POSIX path relative to it and hashed
with sha256 over its bytes; a path listed in ``ignore`` (or inside a listed folder) is skipped;
a symbolic link or special file anywhere is refused, as ``allow_symlinks: false`` demands.
Each file is hashed by ``driftline.canonical.file_sha256`` (large chunks into one reused buffer,
so verifying costs little more than reading: benchmarks/bench_verify.py), and several files are
hashed on a few threads because ``hashlib`` releases the GIL.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from driftline.canonical import file_sha256
from driftline.errors import SignatureError


def is_ignored(name: str, ignore: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p.rstrip("/") + "/") for p in ignore)


def list_files(model_dir: Path, ignore: Iterable[str]) -> list[str]:
    """Relative POSIX names of the regular files to hash; refuses links and special files."""
    ignore = tuple(ignore)
    root = Path(model_dir)
    if not root.is_dir() or root.is_symlink():
        raise SignatureError(f"{root} is not a model directory", hint="pass the version's folder")
    names: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for entry in dirs + files:
            full = Path(folder) / entry
            rel = full.relative_to(root).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise SignatureError(f"{rel} in {root} is a symbolic link",
                                     hint="model signatures cover regular files only; copy the target in")
            if stat.S_ISREG(mode):
                if not is_ignored(rel, ignore):
                    names.append(rel)
            elif not stat.S_ISDIR(mode):
                raise SignatureError(f"{rel} in {root} is not a regular file",
                                     hint="remove the special file from the model directory")
    return sorted(names)


def digest_tree(model_dir: Path, ignore: Iterable[str], *, workers: int | None = None) -> dict[str, str]:
    """``{relative name: hex sha256}`` of every file :func:`list_files` finds."""
    root = Path(model_dir)
    names = list_files(root, ignore)
    if len(names) <= 1:
        return {name: file_sha256(root / name) for name in names}
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(names, pool.map(lambda n: file_sha256(root / n), names), strict=True))
