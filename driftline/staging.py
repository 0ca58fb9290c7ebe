"""Staging folders of dead processes. Writers that build something whole before renaming it into
place (a registry version, an ingestion's Parquet files) stage it in a hidden
``.staging-<pid>-<token>`` folder. A writer killed mid-way (kill -9, power cut) leaves its folder
behind; the next writer sweeps it here. A folder whose process still lives, one not named with a
pid, or one of another user's live process is left alone: it is not ours to judge.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

STAGING_PREFIX = ".staging-"


def staging_name(token: str) -> str:
    """The name of this process's staging folder with ``token`` (e.g. a uuid)."""
    return f"{STAGING_PREFIX}{os.getpid()}-{token}"


def remove_dead_staging(root: Path) -> list[Path]:
    """Remove the ``.staging-<pid>-*`` folders under ``root`` whose process is dead; return them."""
    removed = []
    for folder in Path(root).glob(f"{STAGING_PREFIX}*"):
        try:
            os.kill(int(folder.name.split("-")[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except (ValueError, IndexError, PermissionError, OverflowError):
            continue  # not named with a pid, or alive under another user
    return removed
