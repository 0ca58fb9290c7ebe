"""Fixtures for the ingestion tests: a throw-away data home, the demo contracts, and helpers that
drop files into ``landing/<group>/`` and ingest them with a fixed ``now``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from driftline.home import DataHome
from features.contracts import FeatureGroupContract, load_contracts
from features.ingest import IngestReport, ingest_files
from features.quarantine import Quarantine
from features.store import FeatureStore

ACTIVITY_HEADER = "customer_id,event_time,sessions,minutes_active,pages_per_session,support_tickets,device"


@dataclass
class IngestEnv:
    """One data home with the demo contracts; ``drop`` writes a landing file, ``ingest`` runs it."""

    home: DataHome
    contracts: dict[str, FeatureGroupContract]
    store: FeatureStore
    quarantine: Quarantine
    now: datetime = datetime(2024, 3, 1, tzinfo=UTC)
    header: str = ACTIVITY_HEADER

    def drop(self, name: str, data: bytes | str, group: str = "customer_activity") -> Path:
        path = self.home.landing / group / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def csv(self, name: str, rows: Sequence[str], group: str = "customer_activity",
            header: str | None = None) -> Path:
        return self.drop(name, "\n".join([header or self.header, *rows]) + "\n", group)

    def ingest(self, *paths: Path, **options: object) -> list[IngestReport]:
        options.setdefault("now", self.now)
        return ingest_files(list(paths), self.contracts, self.store, self.quarantine,
                            landing_root=self.home.landing, **options)  # type: ignore[arg-type]

    def one(self, path: Path, **options: object) -> IngestReport:
        (report,) = self.ingest(path, **options)
        assert report.rows_in == report.rows_stored + report.rows_quarantined
        return report


def activity_row(i: int, *, day: str = "2024-01-01T00:00:00Z", sessions: str = "3", minutes: str = "12.5",
                 pages: str = "2.0", tickets: str = "0", device: str = "mobile", customer: str | None = None) -> str:
    return ",".join([customer or f"C{i:06d}", day, sessions, minutes, pages, tickets, device])


@pytest.fixture
def ingest_env(tmp_path: Path) -> IngestEnv:
    home = DataHome(tmp_path / "home").ensure()
    return IngestEnv(home=home, contracts=load_contracts(), store=FeatureStore(home.store),
                     quarantine=Quarantine(home.quarantine))


@pytest.fixture
def row() -> object:
    """The activity-row builder, as a fixture (tests cannot import conftest under importlib mode)."""
    return activity_row
