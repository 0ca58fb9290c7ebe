"""The landing folder as an inbox: which drops wait, which were handled, and when they go.

A drop is *handled* once its bytes are in the store (its sha256 is in a Delta commit of its group)
or quarantined whole; its landing copy is then only a copy. Handled drops stay in ``landing/`` for
a retention period (by the file's modification time, the moment it landed), so a repeated
announcement still finds the file and is answered "duplicate", and are then removed by
:func:`expire` (:func:`expirable` names them first, so a caller can record the removal before it
happens). Drops not yet handled are never removed. Erasure asks :func:`mentioning` which
drops hold an entity: handled ones are removed with the rest of the subject's data; one not yet
handled stops the erasure, which would otherwise be undone by the next ingestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from driftline.home import drop_files as drops
from features.drop_guard import drop_digest
from features.quarantine import Quarantine
from features.readers import mentions
from features.store import FeatureStore

__all__ = ["Handled", "drops", "expirable", "expire", "mentioning"]


@dataclass(frozen=True)
class Handled:
    """Which drop contents are handled, per group: stored (Delta commit metadata) or quarantined whole."""

    by_group: dict[str, frozenset[str]]

    @classmethod
    def read(cls, store: FeatureStore, quarantine: Quarantine, groups: Iterable[str]) -> Handled:
        rejected: dict[str, set[str]] = {}
        for record in quarantine.records():
            if record.kind == "file":
                rejected.setdefault(record.group, set()).add(record.digest)
        return cls({g: frozenset(store.ingested_sources(g) | rejected.get(g, set())) if g in store.groups()
                    else frozenset(rejected.get(g, set())) for g in set(groups)})

    def __contains__(self, drop: Path) -> bool:
        # Hashed as data (no link followed, no FIFO opened): a drop swapped for a link after it was
        # listed is not handled, so expiry never judges, or removes, a file by another's bytes.
        digest = drop_digest(drop)
        return digest is not None and digest in self.by_group.get(drop.parent.name, frozenset())


def expirable(landing: Path, store: FeatureStore, quarantine: Quarantine, *, keep: timedelta,
              now: datetime) -> list[Path]:
    """The handled drops that landed more than ``keep`` ago (nothing is removed)."""
    cutoff = (now - keep).timestamp()
    old = [d for d in drops(landing) if d.stat().st_mtime <= cutoff]
    if not old:
        return []
    handled = Handled.read(store, quarantine, {d.parent.name for d in old})
    return [d for d in old if d in handled]


def expire(landing: Path, store: FeatureStore, quarantine: Quarantine, *, keep: timedelta,
           now: datetime) -> list[Path]:
    """Remove the handled drops that landed more than ``keep`` ago; the removed paths."""
    removed = expirable(landing, store, quarantine, keep=keep, now=now)
    for drop in removed:
        drop.unlink(missing_ok=True)
    return removed


def mentioning(paths: Sequence[Path], key_column: str, keys: Iterable[str]) -> list[Path]:
    """The drops that hold any of ``keys`` (see :func:`features.readers.mentions`)."""
    wanted = sorted(set(keys))
    return [path for path in paths if mentions(path, key_column, wanted)]
