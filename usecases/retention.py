"""Retention, the use case behind ``enforce-retention`` (the command and the daily flow).

A feature group whose contract sets ``retention_days`` keeps a row for that many days after its
event time. :func:`enforce_retention` deletes, per such group, every row whose event time is
before ``now - retention_days``, then vacuums the table so the Parquet files that held them are
gone from the disk, not only from the current version (older Delta versions become unreadable,
as after an erasure). The Delta DELETE names a time, never an entity, so the transaction log
holds nothing personal; the audit entry holds counts, cutoffs and files removed, never a value
of the deleted rows. Groups without ``retention_days`` (and the ``predictions`` group, which has
no contract and holds keys and scores only) are left alone.

The online server's ``served_predictions`` table holds the feature values each request sent or
looked up, so it is kept no longer than the data it copies: a served row is deleted once its
``received_at`` is older than the shortest ``retention_days`` among the contracts with a feature
column in that table (:func:`served_retention_days`; entity keys, event times and labels do not
count, every contract has the first two and no request carries the last). A row served on an
entity's stored features can hold values older than its ``received_at`` (the latest values, looked
up); they go with the row. Retention's vacuum removes only the files Delta's log marks removed,
never a file a running server has written and not yet committed.

Order, for a kill at any point: a group's rows are deleted (one Delta commit), then vacuumed,
then the next group; the ``retention`` entry and its checkpoint come last. Each retention DELETE
commit is tagged ``driftline.retention`` (its cutoff) and the entry names, per group, the newest
table version it counted (``through_version``), so the counts come from the table's own record:
a rerun after a kill before the entry counts the killed run's deletes too, and no deleted row
goes unaudited. A rerun also vacuums what is still on disk and signs an unsigned tail. Asking when
nothing is expired, nothing is left to vacuum and the trail is signed writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from driftline.atomic import fault_point
from driftline.clock import format_time, utc_now
from driftline.errors import InputError
from features.served_predictions import RECEIVED_AT, SERVED_GROUP, input_column

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from features.contracts import FeatureGroupContract
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class GroupRetention:
    """What retention did to one group: rows before ``cutoff`` deleted, files vacuumed."""

    group: str
    retention_days: int
    cutoff: str
    rows_deleted: int
    files_removed: int
    through_version: int  # the newest table version whose retention deletes this counts

    def to_details(self) -> dict[str, object]:
        return {"retention_days": self.retention_days, "cutoff": self.cutoff, "rows_deleted": self.rows_deleted,
                "files_removed": self.files_removed, "through_version": self.through_version}


@dataclass(frozen=True)
class RetentionResult:
    """One run of retention; ``audited`` is False when nothing changed (and nothing was written)."""

    now: str
    groups: tuple[GroupRetention, ...]
    audited: bool

    @property
    def rows_deleted(self) -> int:
        return sum(g.rows_deleted for g in self.groups)

    @property
    def files_removed(self) -> int:
        return sum(g.files_removed for g in self.groups)


def _audited_through(ws: "Workspace") -> dict[str, int]:
    """Per group, the newest table version a ``retention`` entry already counted."""
    through: dict[str, int] = {}
    for entry in ws.audit.entries():
        if entry.action == "retention":
            for group, details in entry.details.get("groups", {}).items():
                through[group] = max(through.get(group, -1), int(details.get("through_version", -1)))
    return through


def enforce_retention(ws: "Workspace", *, now: datetime | None = None,
                      flow_run_id: str | None = None) -> RetentionResult:
    """Delete and vacuum the expired rows of every group with ``retention_days``; audit the counts once."""
    now = now if now is not None else utc_now()
    if now.tzinfo is None:
        raise InputError(f"retention time {now.isoformat()} has no time zone",
                         hint="pass an aware UTC datetime (driftline.clock.utc_now())")
    stored = set(ws.store.groups())
    through = _audited_through(ws)
    expiring = [(name, c.retention_days, c.event_time) for name, c in sorted(ws.contracts.items())
                if c.retention_days is not None and name in stored]
    if SERVED_GROUP in stored:
        schema = ws.store.arrow_schema(SERVED_GROUP)
        days = served_retention_days(ws.contracts, schema.names if schema is not None else ())
        if days is not None:
            expiring.append((SERVED_GROUP, days, RECEIVED_AT))
    done: list[GroupRetention] = []
    for name, retention_days, time_column in expiring:
        cutoff = now - timedelta(days=retention_days)
        ws.store.delete_before(name, time_column, cutoff)
        # Between the delete and the vacuum: the rows are out of the current version but their
        # files are still on disk; the rerun's vacuum removes them.
        fault_point("retention.deleted")
        files = ws.store.vacuum(name)
        # Counted from the table's own record of retention deletes not yet audited: this run's,
        # and those of a run killed before its entry, so no deleted row goes uncounted.
        deletes = ws.store.retention_deletes(name, through.get(name, -1))
        done.append(GroupRetention(group=name, retention_days=retention_days, cutoff=format_time(cutoff),
                                   rows_deleted=sum(deletes.values()), files_removed=files,
                                   through_version=max(deletes, default=through.get(name, -1))))
    fault_point("retention.vacuumed")
    result = RetentionResult(now=format_time(now), groups=tuple(done),
                             audited=any(g.rows_deleted or g.files_removed for g in done))
    if result.audited:
        ws.audit.append("retention", f"retention:{result.now}", {
            "groups": {g.group: g.to_details() for g in done}, "rows_deleted": result.rows_deleted,
            "files_removed": result.files_removed, "vacuumed": True,
            "note": "counts only; versions before this run no longer rebuild"},
            actor=ws.actor(flow_run_id))
    if result.audited or not _checkpointed(ws):
        ws.audit.checkpoint(ws.signing_key())
    return result


def served_retention_days(contracts: Mapping[str, FeatureGroupContract], served_columns: Collection[str]) -> int | None:
    """How long served rows are kept: the shortest ``retention_days`` among the contracts that have a
    feature column among ``served_columns`` (the served table's; None: no such contract, kept)."""
    days = [c.retention_days for c in contracts.values() if c.retention_days is not None
            and any(input_column(col.name) in served_columns for col in c.columns
                    if col.name not in c.entity_keys and col.name not in (c.event_time, c.label))]
    return min(days, default=None)


def _checkpointed(ws: "Workspace") -> bool:
    # A run killed after its entry but before its checkpoint leaves the tail unsigned; the rerun signs it.
    size = ws.audit.head()[0]
    checkpoints = ws.audit.checkpoints()
    return size == 0 or (bool(checkpoints) and checkpoints[-1].size == size)
