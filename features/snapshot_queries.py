"""What the store answers about pinned snapshots without loading them: row counts and data time.

The store owns its queries: these run DuckDB over a :class:`~features.snapshot.GroupSnapshot`'s
Parquet files, so callers above ``features`` (the workspace, the use cases) never write SQL nor
know the file layout. :func:`newest_event_time` is the data's "now": monitoring windows and
scoring are anchored there rather than on the wall clock, so late or replayed data is judged by
when it happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import duckdb

from driftline.errors import NotFoundError, StoreError
from features.contracts import FeatureGroupContract
from features.snapshot import GroupSnapshot
from features.training_set import quote, resolve


def _one(query: str, snapshot: GroupSnapshot) -> Any:  # a DuckDB value: its type follows the SQL type
    try:
        (value,) = duckdb.execute(query, {"files": list(snapshot.files)}).fetchone()  # type: ignore[misc]
    except duckdb.Error as exc:
        raise StoreError(f"the Parquet files of group {snapshot.group!r} v{snapshot.version} cannot be read: {exc}",
                         hint="check that the snapshot's files still exist (a vacuum may have removed them)") from exc
    return value


def stored_row_count(snapshot: GroupSnapshot) -> int:
    """Rows in the snapshot's files, duplicates included (as stored, not as read)."""
    if not snapshot.files:
        return 0
    return int(_one("SELECT count(*) FROM read_parquet($files)", snapshot))


def newest_event_time(snapshots: Sequence[GroupSnapshot], contracts: Mapping[str, FeatureGroupContract]) -> datetime:
    """The newest event time (UTC) over the snapshots, each read by its contract's event-time column."""
    newest: datetime | None = None
    for snapshot in snapshots:
        if not snapshot.files:
            continue
        column = quote(resolve(snapshot, contracts).event_time)
        value = _one(f"SELECT max(CAST({column} AS TIMESTAMPTZ)) FROM read_parquet($files)", snapshot)
        if isinstance(value, datetime) and (newest is None or value > newest):
            newest = value
    if newest is None:
        raise NotFoundError("the feature store holds no feature rows yet", hint="ingest data first")
    return newest.astimezone(timezone.utc)
