"""The layout of the data home (``DRIFTLINE_HOME``, default ``./.driftline``).

One frozen value names every folder driftline writes to, so that no module builds paths of its
own; ``ensure()`` creates them. The layout is documented in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from driftline.atomic import fault_point
from driftline.errors import InputError

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
    """Paths under one data-home root. ``DataHome(p).root == p.resolve()`` (round-trip law).

    A folder *is a data home* when it holds the marker file ``ensure()`` writes, or (homes made
    before the marker) both ``keys/`` and ``audit/``. A folder that merely has a ``registry/``
    (the repository root, whose ``registry/`` is a source package) is not one.
    """

    MARKER: ClassVar[str] = ".driftline-home"
    # What ensure() may find in a folder it adopts as a new home: its own layout, the demo's
    # marker and generated data, the pool's PostgreSQL cluster (deployments/postgres.py). Anything
    # else means the folder belongs to something else.
    ADOPTABLE: ClassVar[frozenset[str]] = frozenset({
        "landing", "quarantine", "store", "registry", "audit", "keys", "studies", "reports", "state",
        MARKER, ".driftline-demo", "demo-source", "pg",
        "models",  # model specs written by hand before the first command (usecases.models)
        "contracts"})  # contracts `contract infer` wrote before the first command (flows/cli_contract.py)

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

    def is_data_home(self) -> bool:
        return self.root.is_dir() and ((self.root / self.MARKER).is_file()
                                       or (self.keys.is_dir() and self.audit.is_dir()))

    def _refuse_a_file(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"the data home {self.root} is a file, not a folder",
                             hint="point --home or DRIFTLINE_HOME at a folder")

    def require_existing(self) -> "DataHome":
        """For commands that only read: the home must exist already; nothing is created."""
        self._refuse_a_file()
        if not self.root.exists():
            raise InputError(f"no data home at {self.root}",
                             hint="check --home or DRIFTLINE_HOME for a typo; a command that writes "
                                  "(python -m flows ingest, demo) creates a new one")
        if not self.is_data_home():
            raise InputError(f"{self.root} is not a driftline data home (no {self.MARKER}, no keys/ and audit/)",
                             hint="point --home or DRIFTLINE_HOME at the data home")
        return self

    def ensure(self) -> "DataHome":
        """Create the layout (and the marker) in a folder that is a home, is new, or is empty."""
        self._refuse_a_file()
        if self.root.is_dir() and not self.is_data_home():
            foreign = sorted(set(os.listdir(self.root)) - self.ADOPTABLE)
            if foreign:
                raise InputError(f"{self.root} is not a driftline data home and is not empty "
                                 f"(it holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})",
                                 hint="point --home or DRIFTLINE_HOME at the data home, or at a new folder")
        try:
            for path in (self.landing, self.quarantine, self.store, self.registry, self.audit,
                         self.keys, self.studies, self.reports, self.state):
                path.mkdir(parents=True, exist_ok=True)
            self.keys.chmod(0o700)
            marker = self.root / self.MARKER
            if not marker.exists():
                # Its presence is the whole content: a kill before or during this write leaves a
                # folder holding only the layout, which the next ensure() adopts again.
                fault_point("home.marker")
                marker.write_text("a driftline data home (python -m flows)\n", encoding="utf-8")
        except OSError as exc:
            where = exc.filename or self.root
            raise InputError(f"cannot write the data home at {where}: {exc.strerror or exc}",
                             hint="fix the folder's permissions or point --home at another folder") from exc
        return self
