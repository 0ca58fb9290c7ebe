"""The layout of the data home (``DRIFTLINE_HOME``, default ``./.driftline``).

One frozen value names every folder driftline writes to, so that no module builds paths of its
own; ``ensure()`` creates them. The layout is documented in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Names a writer gives a file it is still writing: not a drop yet.
WRITING_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


def drop_files(landing: Path) -> list[Path]:
    """Every drop under ``landing/<group>/``, sorted (so runs repeat): each regular file in a group
    folder, except dotfiles, dot-folders and files still being written (``WRITING_SUFFIXES``). A file of
    an unknown type is a drop too: ingestion quarantines it with its reason. Links (to files or to
    group folders) and special files are never listed, so nothing that lists drops (the watcher,
    ingestion, expiry, erasure) follows one out of landing or blocks on a FIFO; named on the
    command line, ingestion refuses them unread."""
    if not landing.is_dir():
        return []
    found = []
    with os.scandir(landing) as groups:
        for group in groups:
            if group.name.startswith(".") or not group.is_dir(follow_symlinks=False):
                continue
            with os.scandir(group.path) as entries:
                found += [Path(e.path) for e in entries if e.is_file(follow_symlinks=False)
                          and not e.name.startswith(".") and not e.name.lower().endswith(WRITING_SUFFIXES)]
    return sorted(found)


@dataclass(frozen=True)
class DataHome:
    """Paths under one data-home root. ``DataHome(p).root == p.resolve()`` (round-trip law)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def studies(self) -> Path:
        return self.root / "studies"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def state(self) -> Path:
        """Small bookkeeping files (idempotency keys of processed events, watcher state)."""
        return self.root / "state"

    def ensure(self) -> "DataHome":
        for path in (self.landing, self.quarantine, self.store, self.registry, self.audit,
                     self.keys, self.studies, self.reports, self.state):
            path.mkdir(parents=True, exist_ok=True)
        self.keys.chmod(0o700)
        return self
