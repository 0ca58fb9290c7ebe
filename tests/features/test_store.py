"""The Delta feature store: versions, sources recorded with the commit, snapshots DuckDB can read,
latest-wins reads, compaction, vacuum, erasure, and appends after a schema evolution."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from driftline.errors import NotFoundError
from features.store import FeatureStore

TS = pa.timestamp("us", tz="UTC")


def _rows(keys: list[str], ingested: datetime, source: str, value: int = 1, **extra: pa.Array) -> pa.Table:
    n = len(keys)
    columns = {"k": pa.array(keys), "t": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, TS),
               "v": pa.array([value] * n, pa.int64()), **extra,
               "_ingested_at": pa.array([ingested] * n, TS), "_source": pa.array([source] * n)}
    return pa.table(columns)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store")


def test_unknown_group(store: FeatureStore) -> None:
    assert store.groups() == [] and store.version("g") is None and store.ingested_sources("g") == set()
    with pytest.raises(NotFoundError, match="'g'"):
        store.snapshot("g")
    with pytest.raises(NotFoundError, match="'g'"):
        store.read("g")


def test_versions_sources_and_latest_wins(store: FeatureStore) -> None:
    assert store.append("g", _rows(["a", "b"], datetime(2024, 2, 1, tzinfo=UTC), "s1", 1),
                        sources=["s1"], key_columns=["k", "t"]) == 0
    assert store.append("g", _rows(["a"], datetime(2024, 2, 2, tzinfo=UTC), "s2", 2), sources=["s2", "s3"]) == 1
    assert store.groups() == ["g"] and store.version("g") == 1
    assert store.ingested_sources("g") == {"s1", "s2", "s3"}
    assert store.key_columns("g") == ("k", "t")
    assert store.read("g").select("k", "v").rows() == [("a", 2), ("b", 1)]
    assert store.read("g", version=0).select("k", "v").rows() == [("a", 1), ("b", 1)]
    with pytest.raises(NotFoundError, match="no version 9"):
        store.snapshot("g", 9)


def test_snapshot_is_plain_parquet_for_duckdb(store: FeatureStore) -> None:
    store.append("g", _rows(["a", "b"], datetime(2024, 2, 1, tzinfo=UTC), "s1"), sources=["s1"])
    store.append("g", _rows(["c"], datetime(2024, 2, 1, tzinfo=UTC), "s2"), sources=["s2"])
    snap = store.snapshot("g")
    assert snap.version == 1 and len(snap.files) == 2 and all(Path(f).is_absolute() for f in snap.files)
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet({list(snap.files)})").fetchall() == [(3,)]
    assert store.snapshot("g", 0).files[0] in snap.files  # time travel names the same file


def test_compact_then_vacuum_keeps_the_rows(store: FeatureStore) -> None:
    for i in range(4):
        store.append("g", _rows([f"k{i}"], datetime(2024, 2, 1, tzinfo=UTC), f"s{i}"), sources=[f"s{i}"])
    result = store.compact("g")
    assert (result.files_removed, result.files_added, result.version_after) == (4, 1, result.version_before + 1)
    assert store.vacuum("g") == 4
    assert len(store.snapshot("g").files) == 1 and store.read("g").height == 4
    assert store.ingested_sources("g") == {"s0", "s1", "s2", "s3"}  # compaction keeps the record


def test_erasure_removes_rows_and_old_files(store: FeatureStore, tmp_path: Path) -> None:
    store.append("g", _rows(["alice", "bob", "o'neil"], datetime(2024, 2, 1, tzinfo=UTC), "s1"), sources=["s1"])
    store.append("g", _rows(["alice"], datetime(2024, 2, 2, tzinfo=UTC), "s2"), sources=["s2"])
    assert store.delete_entities("g", "k", ["alice", "o'neil"]) == 3
    assert store.read("g")["k"].to_list() == ["bob"]
    leftovers = b"".join(p.read_bytes() for p in (tmp_path / "store" / "g").glob("*.parquet"))
    assert b"alice" not in leftovers and b"neil" not in leftovers
    with pytest.raises(NotFoundError, match="no column 'nope'"):
        store.delete_entities("g", "nope", ["x"])


def test_append_after_adding_a_nullable_column(store: FeatureStore) -> None:
    store.append("g", _rows(["a"], datetime(2024, 2, 1, tzinfo=UTC), "s1"), sources=["s1"], key_columns=["k", "t"])
    wider = _rows(["b"], datetime(2024, 2, 2, tzinfo=UTC), "s2", extra=pa.array([0.5]))
    store.append("g", wider, sources=["s2"])
    read = store.read("g")
    assert read.select("k", "extra").rows() == [("a", None), ("b", 0.5)]


def test_appends_keep_every_commit_file_even_where_the_table_would_expire_them(tmp_path) -> None:
    # The record of what was ingested lives in the commit files; an append must never sweep them, even
    # on a table made without driftline's retention setting (here: expire at once, checkpoint often).
    from deltalake import write_deltalake as raw_write

    store = FeatureStore(tmp_path)
    raw_write(tmp_path / "g", pa.table({"x": [0]}), mode="append",
              configuration={"delta.logRetentionDuration": "interval 0 seconds", "delta.checkpointInterval": "2"})
    for i in range(6):
        store.append("g", pa.table({"x": [i]}), sources=[f"drop-{i}"])
    assert store.ingested_sources("g") == {f"drop-{i}" for i in range(6)}
    assert len(list((tmp_path / "g" / "_delta_log").glob("*.json"))) == 7


def test_a_kept_handle_appends_after_other_writers_commits(store: FeatureStore, tmp_path: Path) -> None:
    # The prediction log's appends keep their Delta handle between commits; meanwhile erasure deletes,
    # compaction rewrites and another process appends, each through a handle of its own.
    def at(day: int) -> datetime:
        return datetime(2024, 2, day, tzinfo=UTC)

    assert store.append("g", _rows(["a", "b"], at(1), "s1"), sources=["s1"], keep_open=True) == 0
    assert store.append("g", _rows(["c"], at(2), "s2"), sources=["s2"], keep_open=True) == 1
    other = FeatureStore(tmp_path / "store")
    other.append("g", _rows(["d"], at(3), "s3"), sources=["s3"])  # version 2
    assert other.delete_entities("g", "k", ["a"], vacuum=False) == 1  # version 3
    other.compact("g")  # version 4
    assert store.append("g", _rows(["e"], at(4), "s4"), sources=["s4"], keep_open=True) == 5
    assert store.append("g", _rows(["f"], at(5), "s5", extra=pa.array([0.5])), sources=["s5"], keep_open=True) == 6
    read = other.read("g").sort("k")
    assert read["k"].to_list() == ["b", "c", "d", "e", "f"] and read["extra"].to_list() == [None] * 4 + [0.5]
    assert other.ingested_sources("g") == {"s1", "s2", "s3", "s4", "s5"}


def test_keep_open_opens_the_table_once_for_many_appends(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real = store._table
    monkeypatch.setattr(store, "_table", lambda group, version=None: opened.append(group) or real(group, version))
    for i in range(4):
        store.append("g", _rows([f"k{i}"], datetime(2024, 2, 1, tzinfo=UTC), f"s{i}"), sources=[f"s{i}"],
                     keep_open=True)
    assert opened == ["g"]  # the first append created the table and opened it once; the rest reused it
    store.append("g", _rows(["x"], datetime(2024, 2, 1, tzinfo=UTC), "sx"), sources=["sx"])
    assert opened == ["g", "g"] and store.version("g") == 4


def test_vacuum_never_takes_a_file_a_writer_has_not_committed_yet(store: FeatureStore, tmp_path: Path) -> None:
    # Erasure and retention vacuum the served table while a server may be writing its next commit: only
    # files the log marks removed may go (Delta's lite vacuum), never one no commit references yet.
    import pyarrow.parquet as pq

    for i in range(2):
        store.append("g", pa.table({"x": [i]}), sources=[f"s{i}"])
    in_flight = tmp_path / "store" / "g" / "part-in-flight.parquet"
    pq.write_table(pa.table({"x": [9]}), in_flight)
    store.compact("g")
    assert store.vacuum("g") == 2 and in_flight.exists()


def test_scan_reads_the_current_rows_lazily_with_columns_added_later_as_null(store: FeatureStore) -> None:
    store.append("g", _rows(["a", "b"], datetime(2024, 2, 1, tzinfo=UTC), "s1"), sources=["s1"])
    store.append("g", _rows(["c"], datetime(2024, 2, 2, tzinfo=UTC), "s2", extra=pa.array([0.5])), sources=["s2"])
    assert store.delete_entities("g", "k", ["b"]) == 1
    scan = store.scan("g")
    assert scan.collect_schema().names() == store.read("g").columns
    rows = scan.filter(pl.col("k") != "zzz").select("k", "extra").sort("k").collect()
    assert rows.rows() == [("a", None), ("c", 0.5)]
    store.compact("g")
    assert store.scan("g").select(pl.len()).collect().item() == 2


def test_erasure_reaches_files_a_compaction_replaced_long_ago(tmp_path: Path) -> None:
    # Delta keeps a removed file in its checkpoints only for deletedFileRetentionDuration (7 days);
    # after that only a full vacuum finds it. Here that retention is 1 s and files are aged by hand.
    import os
    import time

    from deltalake import write_deltalake as raw_write

    store = FeatureStore(tmp_path)
    raw_write(tmp_path / "g", _rows(["zed"], datetime(2024, 2, 1, tzinfo=UTC), "s0"), mode="append",
              configuration={"delta.deletedFileRetentionDuration": "interval 1 seconds",
                             "delta.checkpointInterval": "2"})
    for i, key in enumerate(["alice", "bob", "carol"], start=1):
        store.append("g", _rows([key], datetime(2024, 2, 1, tzinfo=UTC), f"s{i}"), sources=[f"s{i}"])
    store.compact("g")  # alice's first file is now replaced, removed in the log
    time.sleep(1.5)
    for i in range(4, 8):  # later checkpoints drop the expired removal: the lite vacuum no longer sees it
        store.append("g", _rows([f"k{i}"], datetime(2024, 2, 1, tzinfo=UTC), f"s{i}"), sources=[f"s{i}"])
    hour_ago = time.time() - 2 * 3600
    for part in (tmp_path / "g").glob("*.parquet"):
        os.utime(part, (hour_ago, hour_ago))
    store.delete_entities("g", "k", ["alice"])
    leftovers = b"".join(p.read_bytes() for p in (tmp_path / "g").glob("*.parquet"))
    assert b"alice" not in leftovers and b"bob" in leftovers
    assert sorted(store.read("g")["k"].to_list()) == ["bob", "carol", "k4", "k5", "k6", "k7", "zed"]
