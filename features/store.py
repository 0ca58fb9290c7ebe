"""The feature store: one Delta Lake table per feature group under the data home's ``store/``.

Every append is one Delta commit whose custom metadata (``driftline.sources``) lists the sha256
of the drops whose rows it holds, so "this drop was ingested" becomes true in the same atomic step
as its rows; :meth:`FeatureStore.ingested_sources` replays the log to answer it. Concurrent
appends rely on Delta's optimistic concurrency (appends never conflict with each other; delta-rs
retries the commit) plus a retry here for the rest; deletes of rows take the group's write lock
(:meth:`FeatureStore.write_lock`), which the appenders that commit often hold around their commits.
What a table records about its rows (statistics columns, creation settings) is
:mod:`features.table_layout`'s. The key columns that identify a row (entity
keys and event time) are recorded in the table's description when it is created, so
:meth:`FeatureStore.read` can keep, per key, the row with the latest ``_ingested_at`` — the
GroupSnapshot convention. Schemas merge on append, so a contract that gained a nullable column
keeps writing to the same table. Readers of a :class:`GroupSnapshot` get plain Parquet files.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Schema, write_deltalake
from deltalake.transaction import AddAction, create_table_with_add_actions
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from filelock import FileLock, Timeout

from driftline.errors import NotFoundError, StoreError
from features.snapshot import GroupSnapshot
from features.table_layout import creation_config, file_stats, stats_columns

SOURCES_KEY = "driftline.sources"
_KEYS_TAG = "driftline.keys"
RETENTION_KEY = "driftline.retention"  # a retention DELETE's commit metadata: its cutoff
_RETRIES = 8
# A file the table does not reference is a vacuum's to delete once it is this old (see vacuum).
_ORPHAN_AGE_HOURS = 1
# Checkpoints as Delta makes them, but no sweep for expired commit files after each append: the log is
# kept (features.table_layout), and the sweep lists the whole log folder, ~7 of ~17 ms of CPU a commit
# at 1,300 commits (the served log's commits, when it made one per 1,000-row request). A table made
# without the setting keeps its log too.
_KEEP_LOG = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)


@dataclass(frozen=True)
class CompactionResult:
    """What :meth:`FeatureStore.compact` did: rows are unchanged, files fewer."""

    group: str
    version_before: int
    version_after: int
    files_removed: int
    files_added: int


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class FeatureStore:
    """One Delta table per feature group at ``root/<group>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._kept: dict[str, DeltaTable] = {}  # append(keep_open=True)'s handles, one per group

    def _path(self, group: str) -> Path:
        return self.root / group

    def _table(self, group: str, version: int | None = None) -> DeltaTable:
        path = self._path(group)
        if not (path / "_delta_log").is_dir():
            raise NotFoundError(f"feature group {group!r} has no table in {self.root}",
                                hint="ingest a drop into landing/<group>/ first")
        try:
            return DeltaTable(path, version=version)
        except (DeltaError, TableNotFoundError, OSError) as exc:
            if version is not None:
                raise NotFoundError(f"feature group {group!r} has no version {version}: {exc}",
                                    hint="pick a version listed by the table's history") from exc
            raise StoreError(f"Delta table {path} cannot be opened: {exc}") from exc

    def groups(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "_delta_log").is_dir())

    @contextmanager
    def write_lock(self, group: str, timeout_s: float = 600) -> Iterator[None]:
        """The group's writers' lock, a lock file under ``store/.locks/`` (it spans processes on one
        host, and hosts on a shared file system whose locks work). Held by an ingestion from its last
        duplicate check to its commit, so that two ingestions of the same drop (or, in a ``reject``
        group, of the same key) cannot both commit; by the prediction log around each commit; and by
        every delete of rows (:meth:`delete_entities`, :meth:`delete_before`). A delete reads the
        table and Delta refuses its commit when another added files meanwhile ("a concurrent
        transaction added new data": delta-rs marks no append blind), so without the lock a server
        committing every second or two made erasure of its served rows fail every time. Compaction
        takes no lock: it adds no data, and a delete it beats is retried."""
        folder = self.root / ".locks"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(folder / f"{group}.lock"), timeout=timeout_s):
                yield
        except Timeout as exc:
            raise StoreError(f"another writer of group {group!r} held its lock for {timeout_s:g} s",
                             hint=f"check for a stuck ingestion or erasure; the lock is {folder / group}.lock") from exc

    def version(self, group: str) -> int | None:
        if not (self._path(group) / "_delta_log").is_dir():
            return None
        return self._table(group).version()

    def arrow_schema(self, group: str) -> pa.Schema | None:
        """The table's current columns and types (None when the group has no table yet)."""
        if self.version(group) is None:
            return None
        return pa.schema(self._table(group).schema().to_arrow())

    def key_columns(self, group: str) -> tuple[str, ...]:
        """Entity keys then event time, as recorded when the table was created (empty if none)."""
        description = self._table(group).metadata().description or ""
        try:
            return tuple(json.loads(description).get(_KEYS_TAG, ()))
        except (json.JSONDecodeError, AttributeError):
            return ()

    def append(self, group: str, table: pa.Table | ds.Dataset, *, sources: Sequence[str],
               key_columns: Sequence[str] = (), pii_columns: Sequence[str] = (), keep_open: bool = False) -> int:
        """Append rows in one commit recording ``sources``; returns the new version.

        ``table`` may be a pyarrow Dataset (for instance staged Parquet files), which is streamed
        rather than loaded. ``key_columns`` are recorded when this append creates the table, and so
        is the list of columns Delta may keep min/max statistics of
        (:func:`features.table_layout.stats_columns`).
        ``keep_open``: for a writer appending to one group again and again (the prediction log), the
        table's handle is kept between calls instead of opened for each. Opening replays the log from
        its last checkpoint, which lists every file: on a served table of ~2,300 files that was ~28 ms
        of CPU, more than the write. A write brings its handle to the version it committed (other
        writers' commits included), and a commit that lost a race is retried on a handle opened anew.
        """
        metadata = {SOURCES_KEY: json.dumps(sorted(set(sources)))}
        description = json.dumps({_KEYS_TAG: list(key_columns)})
        kept = self._kept.pop(group, None) if keep_open else None
        for attempt in range(_RETRIES):
            data = table.scanner().to_reader() if isinstance(table, ds.Dataset) else table
            # One handle for the whole commit: the write brings it to the new version and _commit_of reads
            # its history, where opening the table three times replayed its log three times (the served
            # log's commit, ~2 ms of CPU a request at 1,000 rows).
            if attempt == 0 and kept is not None:
                existing: DeltaTable | None = kept
            else:
                existing = self._table(group) if (self._path(group) / "_delta_log").is_dir() else None
            # Table metadata is set only on creation: rewriting it would make concurrent appends conflict.
            creating = existing is None
            try:
                write_deltalake(self._path(group) if existing is None else existing, data, mode="append",
                                schema_mode="merge",
                                description=description if creating else None,
                                configuration=creation_config(table.schema, pii_columns) if creating else None,
                                commit_properties=CommitProperties(custom_metadata=metadata),
                                post_commithook_properties=_KEEP_LOG)
                break
            except CommitFailedError as exc:
                if attempt == _RETRIES - 1:
                    raise StoreError(f"could not commit to Delta table {self._path(group)} after "
                                     f"{_RETRIES} tries: {exc}", hint="another writer kept winning; retry") from exc
            except DeltaError as exc:
                # Two writers creating the same table race on version 0; the loser appends next time.
                if "already exists" not in str(exc) or attempt == _RETRIES - 1:
                    raise StoreError(f"Delta table {self._path(group)} refused the append: {exc}",
                                     hint="check that the rows match the table's schema") from exc
            time.sleep(0.05 * (2 ** attempt) * random.random())
        written = existing if existing is not None else self._table(group)  # this append created it
        if keep_open:
            self._kept[group] = written
        return self._commit_of(group, metadata[SOURCES_KEY], written)

    def append_files(self, group: str, files: Sequence[Path], *, sources: Sequence[str],
                     key_columns: Sequence[str] = (), pii_columns: Sequence[str] = ()) -> int:
        """Append Parquet files written by the caller (all of one schema) in one commit recording
        ``sources``, without rewriting them: each is moved into the table and added with statistics
        read from its footer (only for :func:`features.table_layout.stats_columns`). Returns the new version.

        A table whose columns differ (a contract that gained a column) gets the rows through
        :meth:`append`, which merges the schema.
        """
        if not files:
            raise StoreError(f"no files to append to feature group {group!r}", hint="append an empty table instead")
        schema = pq.read_schema(files[0])
        names = set(schema.names)
        if self.version(group) is not None and set(self._table(group).schema().to_arrow().names) != names:
            return self.append(group, ds.dataset([str(f) for f in files], format="parquet"), sources=sources,
                               key_columns=key_columns, pii_columns=pii_columns)
        path = self._path(group)
        path.mkdir(parents=True, exist_ok=True)
        stats_of = stats_columns(schema, pii_columns)
        actions = []
        for file in files:
            name = f"part-{uuid.uuid4()}.parquet"
            stats = file_stats(Path(file), stats_of)
            os.replace(file, path / name)  # same file system: the staging folder lives under the store
            actions.append(AddAction(name, (path / name).stat().st_size, {}, int(time.time() * 1000), True, stats))
        metadata = {SOURCES_KEY: json.dumps(sorted(set(sources)))}
        properties = CommitProperties(custom_metadata=metadata)
        for attempt in range(_RETRIES):
            try:
                if self.version(group) is None:
                    create_table_with_add_actions(
                        str(path), Schema.from_arrow(schema), actions, mode="error",
                        description=json.dumps({_KEYS_TAG: list(key_columns)}),
                        configuration=creation_config(schema, pii_columns), commit_properties=properties)
                else:
                    # a copy typed as the list of add-or-remove actions this call takes
                    self._table(group).create_write_transaction(list(actions), "append", schema,
                                                                commit_properties=properties,
                                                                post_commithook_properties=_KEEP_LOG)
                break
            except DeltaError as exc:
                # A lost race: another writer created the table or committed first; append next time.
                if attempt == _RETRIES - 1:
                    raise StoreError(f"could not commit to Delta table {path} after {_RETRIES} tries: {exc}",
                                     hint="another writer kept winning; retry") from exc
            time.sleep(0.05 * (2 ** attempt) * random.random())
        return self._commit_of(group, metadata[SOURCES_KEY])

    def _commit_of(self, group: str, sources_json: str, table: DeltaTable | None = None) -> int:
        # The version our commit landed at: the newest commit carrying exactly our metadata (``table``:
        # the handle that wrote it, already at that version; else the table opened anew).
        table = self._table(group) if table is None else table
        # The writing handle's newest commit is ours (one short read); a scan only when it is not.
        if table is not None and (newest := table.history(limit=1)) and newest[0].get(SOURCES_KEY) == sources_json:
            return int(newest[0]["version"])
        for entry in table.history(limit=64):
            if entry.get(SOURCES_KEY) == sources_json:
                return int(entry["version"])
        return table.version()

    def ingested_sources(self, group: str) -> set[str]:
        if self.version(group) is None:
            return set()
        found: set[str] = set()
        for entry in self._table(group).history():
            if SOURCES_KEY in entry:
                found.update(json.loads(entry[SOURCES_KEY]))
        return found

    def snapshot(self, group: str, version: int | None = None) -> GroupSnapshot:
        table = self._table(group, version)
        files = tuple(sorted(uri.removeprefix("file://") for uri in table.file_uris()))
        return GroupSnapshot(group=group, version=table.version(), files=files)

    def read(self, group: str, version: int | None = None) -> pl.DataFrame:
        """Rows of a version, one per (entity keys, event time): the latest ``_ingested_at`` wins."""
        table = self._table(group, version)
        frame = pl.from_arrow(table.to_pyarrow_dataset().to_table())
        assert isinstance(frame, pl.DataFrame)
        keys = list(self.key_columns(group))
        if not keys or frame.height == 0:
            return frame
        # Ties (same instant) are broken by the drop digest so that the answer never depends on file order.
        return (frame.sort(["_ingested_at", "_source"])
                .unique(subset=keys, keep="last", maintain_order=True)
                .sort(keys))

    def scan(self, group: str) -> pl.LazyFrame:
        """The current version's rows as a lazy frame over its Parquet files, every row as stored (no
        latest-wins: for tables whose rows are never restated, such as the served log). Filters and the
        columns a query names reach the Parquet reader, so a window of a table larger than memory
        is read without the rest; a file written before a column was added reads it as null."""
        table = self._table(group)
        files = sorted(uri.removeprefix("file://") for uri in table.file_uris())
        empty = pl.from_arrow(pa.schema(table.schema().to_arrow()).empty_table())
        assert isinstance(empty, pl.DataFrame)
        schema = empty.schema
        if not files:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(files, schema=schema, missing_columns="insert", extra_columns="ignore")

    def compact(self, group: str) -> CompactionResult:
        table = self._table(group)
        before = table.version()
        try:
            metrics = table.optimize.compact()
        except DeltaError as exc:
            raise StoreError(f"compaction of Delta table {self._path(group)} failed: {exc}") from exc
        return CompactionResult(group=group, version_before=before, version_after=self._table(group).version(),
                                files_removed=int(metrics.get("numFilesRemoved", 0)),
                                files_added=int(metrics.get("numFilesAdded", 0)))

    def vacuum(self, group: str) -> int:
        """Delete files no current version references (retention 0: older versions become unreadable).

        Two passes. Delta's lite vacuum takes the files its log marks removed, at once; but a removal
        stays in the log's checkpoints only for ``delta.deletedFileRetentionDuration`` (7 days), after
        which its file is no longer listed anywhere and the lite pass never finds it: the files a
        compaction replaced more than a week ago, holding every row they held, erased ones included.
        The full pass takes any file the table does not reference that is older than
        :data:`_ORPHAN_AGE_HOURS`: never a file a writer has just written and not yet committed (a
        compaction writes without the lock; the log and ingestion commit under it, held here).
        Returns how many files were on disk and are gone (Delta lists a tombstoned file again after
        it was vacuumed, so only files still present count; with none the vacuum is skipped).
        """
        with self.write_lock(group):
            table = self._table(group)
            gone = 0
            try:
                for full, hours in ((False, 0), (True, _ORPHAN_AGE_HOURS)):
                    listed = table.vacuum(retention_hours=hours, dry_run=True, enforce_retention_duration=False,
                                          full=full)
                    present = [f for f in listed if (Path(f) if os.path.isabs(f) else self._path(group) / f).exists()]
                    if present:
                        table.vacuum(retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=full)
                    gone += len(present)
            except DeltaError as exc:
                raise StoreError(f"vacuum of Delta table {self._path(group)} failed: {exc}") from exc
        return gone

    def delete_entities(self, group: str, key_column: str, keys: Sequence[str], *, vacuum: bool = True,
                        missing_ok: bool = False) -> int:
        """Erase every row whose ``key_column`` is in ``keys``; with ``vacuum`` the old files go too,
        so the erased values are gone from disk (and versions before the erasure can no longer be read).
        ``missing_ok``: a table without the column holds no entity (0 rows), rather than an error."""
        if not keys:
            return 0
        table = self._table(group)
        if key_column not in table.schema().to_arrow().names:
            if missing_ok:
                return 0
            raise NotFoundError(f"feature group {group!r} has no column {key_column!r}")
        # A merge against a table of the keys, not a DELETE with the keys in its predicate: Delta
        # records a DELETE's predicate in the commit, and the log would keep the erased ids.
        source = pa.table({"key": pa.array(sorted({str(k) for k in keys}), pa.large_string())})
        metrics = self._delete(group, "erasure", lambda t: t.merge(
            source=source, predicate=f"t.{_quote(key_column)} = s.key", source_alias="s",
            target_alias="t").when_matched_delete().execute())
        if vacuum:
            self.vacuum(group)
        return int(metrics.get("num_target_rows_deleted", 0))

    def delete_before(self, group: str, time_column: str, cutoff: datetime) -> int:
        """Delete every row whose ``time_column`` is before ``cutoff`` (retention); no vacuum, so the
        caller decides when the old files go. The predicate names a time, never an entity, so the
        DELETE the commit records holds nothing personal."""
        table = self._table(group)
        fields = {f.name: f.type for f in pa.schema(table.schema().to_arrow())}
        if time_column not in fields:
            raise NotFoundError(f"feature group {group!r} has no column {time_column!r}",
                                hint="the contract's event_time must name a column of the stored table")
        kind = fields[time_column]
        if pa.types.is_date(kind):
            literal = cutoff.date().isoformat()
        elif pa.types.is_timestamp(kind):
            literal = cutoff.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            raise StoreError(f"column {time_column!r} of feature group {group!r} is {kind}, not a date or timestamp",
                             hint="retention needs the contract's event time column to be a timestamp")
        metrics = self._delete(group, "retention delete", lambda t: t.delete(
            f"{_quote(time_column)} < '{literal}'", commit_properties=CommitProperties(
                custom_metadata={RETENTION_KEY: literal})))
        return int(metrics.get("num_deleted_rows", 0))

    def _delete(self, group: str, what: str, delete: Callable[[DeltaTable], dict[str, Any]]) -> dict[str, Any]:
        """``delete`` run on the table opened anew, under the group's write lock (see :meth:`write_lock`);
        a commit that a compaction beat (both removed the same files) is tried again."""
        with self.write_lock(group):
            for attempt in range(_RETRIES):
                try:
                    return delete(self._table(group))
                except CommitFailedError as exc:
                    if attempt == _RETRIES - 1:
                        raise StoreError(f"{what} in Delta table {self._path(group)} lost {_RETRIES} races with "
                                         f"other writers: {exc}", hint="retry; nothing was deleted") from exc
                except DeltaError as exc:
                    raise StoreError(f"{what} in Delta table {self._path(group)} failed: {exc}") from exc
                time.sleep(0.05 * (2 ** attempt) * random.random())
        raise AssertionError("unreachable")

    def retention_deletes(self, group: str, after_version: int = -1) -> dict[int, int]:
        """Rows deleted by each retention commit newer than ``after_version``, by table version: the
        durable record a killed retention run leaves even when its audit entry was never written."""
        found: dict[int, int] = {}
        for entry in self._table(group).history():
            version = int(entry["version"])
            if version > after_version and RETENTION_KEY in entry:
                found[version] = int((entry.get("operationMetrics") or {}).get("num_deleted_rows", 0))
        return found
