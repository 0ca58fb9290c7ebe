"""The layout of the data home (``DRIFTLINE_HOME``, default ``./.driftline``).

One frozen value names every folder driftline writes to, so that no module builds paths of its
own; ``ensure()`` creates them. The layout is documented in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
