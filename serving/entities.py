"""Entity lookups: "score customer X now" from the latest stored features, kept in memory.

For each served model, :class:`StoredEntities` holds the frame :func:`features.latest.latest_features`
answers for the model's feature groups, read as the ``score`` use case reads it (anchored at the
newest event time in the store, not the wall clock), with an index from entity keys to rows. A
request whose columns are exactly the entity keys is answered from it: the rows of those entities
go through the same checks and scoring as sent rows. The watcher calls :meth:`reload` when a
group's Delta log changes (an ingestion landed); the new frame and index replace the old in one
assignment, so a lookup never sees half of each. An unknown entity is a 404 naming the key.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from driftline.errors import NotFoundError
from features.latest import latest_features
from features.snapshot_queries import newest_event_time
from usecases.score import entity_keys

if TYPE_CHECKING:
    from features.contracts import FeatureGroupContract
    from features.store import FeatureStore


@dataclass(frozen=True)
class EntityTable:
    """One model's latest features and where each entity's row is (keys as a tuple of text)."""

    keys: tuple[str, ...]
    frame: pl.DataFrame
    rows: Mapping[tuple[str, ...], int]
    delta_versions: Mapping[str, int | None]


def _key(values: Sequence[object]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in values)


def read_table(store: "FeatureStore", contracts: Mapping[str, "FeatureGroupContract"],
               groups: Sequence[str]) -> EntityTable:
    """The latest features of every entity in ``groups``, as ``score`` reads them."""
    keys = entity_keys(contracts, groups)
    versions = {g: store.version(g) for g in groups}
    if any(v is None for v in versions.values()):
        frame = pl.DataFrame({k: [] for k in keys}, schema={k: pl.String for k in keys})
    else:
        snapshots = [store.snapshot(g) for g in groups]
        frame = latest_features(snapshots, contracts, as_of=newest_event_time(snapshots, contracts))
    index = {_key(row): i for i, row in enumerate(frame.select(keys).iter_rows())}
    return EntityTable(keys=keys, frame=frame, rows=index, delta_versions=versions)


class StoredEntities:
    """The entity tables of the served models, reloaded when their groups' Delta logs change."""

    def __init__(self, store: "FeatureStore", contracts: Mapping[str, "FeatureGroupContract"],
                 groups: Mapping[str, Sequence[str]]) -> None:
        self.store = store
        self.contracts = contracts
        self.groups = {m: tuple(g) for m, g in groups.items()}
        self._lock = threading.Lock()
        self._tables: dict[str, EntityTable] = {}
        for model in self.groups:
            self.reload(model)

    def logs(self) -> list[Path]:
        """The Delta log folders whose change means new features (what the watcher stats)."""
        groups = sorted({g for gs in self.groups.values() for g in gs})
        return [self.store.root / g / "_delta_log" for g in groups]

    def reload(self, model: str | None = None) -> None:
        """Re-read the latest features (of ``model``'s groups, or every model's)."""
        with self._lock:
            for name in ([model] if model else list(self.groups)):
                table = read_table(self.store, self.contracts, self.groups[name])
                self._tables = {**self._tables, name: table}  # one assignment: readers see old or new

    def reload_group(self, group: str) -> None:
        for model, groups in self.groups.items():
            if group in groups:
                self.reload(model)

    def keys(self, model: str) -> tuple[str, ...]:
        table = self._tables.get(model)
        return table.keys if table is not None else ()

    def version_of(self, model: str) -> Mapping[str, int | None]:
        return self._tables[model].delta_versions

    def lookup(self, model: str, keys: pl.DataFrame) -> pl.DataFrame:
        """The stored rows of the entities in ``keys``, in request order; NotFoundError naming the first unknown."""
        table = self._tables[model]
        found = []
        for values in keys.select(table.keys).iter_rows():
            i = table.rows.get(_key(values))
            if i is None:
                named = ", ".join(f"{k}={v!r}" for k, v in zip(table.keys, values, strict=True))
                raise NotFoundError(f"no stored features for entity {named} of model {model!r}",
                                    hint=f"ingest its features first, or send every feature column instead of "
                                         f"{', '.join(table.keys)} alone")
            found.append(i)
        return table.frame[found]
