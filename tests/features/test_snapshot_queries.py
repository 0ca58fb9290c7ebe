"""Row counts and data time of pinned snapshots, answered by the store's own queries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from driftline.errors import NotFoundError, StoreError
from features.contracts import ColumnSpec, FeatureGroupContract
from features.snapshot import GroupSnapshot
from features.snapshot_queries import newest_event_time, stored_row_count

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
KEY = ColumnSpec("customer_id", "string", nullable=False)
A = FeatureGroupContract("a", 1, ("customer_id",), "seen_at", (KEY, ColumnSpec("seen_at", "timestamp")))
B = FeatureGroupContract("b", 1, ("customer_id",), "billed_at", (KEY, ColumnSpec("billed_at", "timestamp")))
CONTRACTS = {"a": A, "b": B}


def _snapshot(folder: Path, group: str, column: str, minutes: list[int], part: int = 0) -> GroupSnapshot:
    path = folder / f"{group}-{part}.parquet"
    pl.DataFrame({"customer_id": [f"c{i}" for i in range(len(minutes))],
                  column: [T0 + timedelta(minutes=m) for m in minutes]}).write_parquet(path)
    return GroupSnapshot(group, 1, (str(path),))


def test_rows_are_counted_as_stored_duplicates_included(tmp_path) -> None:
    one = _snapshot(tmp_path, "a", "seen_at", [1, 1, 2])
    two = _snapshot(tmp_path, "a", "seen_at", [5], part=1)
    assert stored_row_count(GroupSnapshot("a", 2, one.files + two.files)) == 4
    assert stored_row_count(GroupSnapshot("a", 0, ())) == 0


def test_data_time_is_the_newest_event_time_over_groups_each_by_its_own_column(tmp_path) -> None:
    a = _snapshot(tmp_path, "a", "seen_at", [1, 30, 7])
    b = _snapshot(tmp_path, "b", "billed_at", [12, 3])
    empty = GroupSnapshot("b", 0, ())
    newest = newest_event_time([a, b, empty], CONTRACTS)
    assert newest == T0 + timedelta(minutes=30) and newest.tzinfo is not None
    assert newest.utcoffset() == timedelta(0)
    assert newest_event_time([b], CONTRACTS) == T0 + timedelta(minutes=12)


def test_no_rows_unknown_groups_and_vanished_files_are_errors_with_hints(tmp_path) -> None:
    with pytest.raises(NotFoundError, match="no feature rows") as caught:
        newest_event_time([GroupSnapshot("a", 0, ())], CONTRACTS)
    assert caught.value.hint
    with pytest.raises(NotFoundError, match="no contract"):
        newest_event_time([_snapshot(tmp_path, "c", "seen_at", [1])], CONTRACTS)
    gone = GroupSnapshot("a", 3, (str(tmp_path / "vacuumed.parquet"),))
    with pytest.raises(StoreError, match="v3") as caught:
        stored_row_count(gone)
    assert "vacuum" in (caught.value.hint or "")
