"""The prediction log: served batches appended to the store's ``served_predictions`` group in the background.

:class:`PredictionLog` is the server's :class:`serving.served.PredictionSink`. ``submit`` never waits
for I/O: it puts the batch on a bounded in-memory queue and returns. A writer thread takes what is
queued when ``batch_rows`` rows wait, when the oldest has waited ``flush_seconds``, or on ``flush``/
``close``, turns it into rows of :mod:`features.served_predictions` (consecutive requests of one
shape through one frame, not one frame each: at one row a request, that cost the server as much
CPU as scoring) and appends them to the store in one Delta commit. A commit is the
acknowledgement: once :meth:`features.store.FeatureStore.append` returns, the rows are durable,
``stats.committed_rows`` counts them and ``on_commit`` is told.

**When the queue is full** (``max_pending_rows`` rows submitted and not yet committed, by default four
times ``batch_rows``, or ``max_pending_requests`` batches, 10,000: a one-row batch holds ~6.5 kB, so a
queue of 200,000 of them would hold 1.3 GB) a new batch is dropped, not waited for: a slow disk must
never slow the answers.
Dropped rows are counted (``stats.dropped_rows``), logged, and written in the next audit entry.
Rows the table cannot hold as sent (a column it stores as another type: Delta would cast 1.5 into
an integer column as 1) are refused and counted as failed (``stats.failed_rows``), never stored altered.

**Why 50,000 rows a commit.** A commit costs ~10-25 ms of CPU whatever its size (Delta's log and
the table's state, which grow with its files), a row a few microseconds. At 1,000 rows a commit, one
client sending 1,000-row requests made the writer commit after nearly every request, and the
commits took a third of the server's throughput from the scoring beside them on two cores (86-99
requests a second against 146 with ``--no-log``); at 50,000 rows, ~126-132. Below 25,000 rows a
second the timer decides, as before.

**What a crash loses.** A SIGKILL (or power cut) loses what was submitted and not yet committed:
at most ``max_pending_rows`` rows (default 4 x ``batch_rows`` = 200,000) from at most
``max_pending_requests`` requests; in steady traffic below the disk's pace, what arrived in the last
``flush_seconds`` (default 2 s) or the last ``batch_rows`` rows, whichever came first, plus the
commit in flight. Nothing committed is ever lost: a commit is one
Delta log entry, written whole or not at all; a killed commit leaves only unreferenced Parquet files,
which a vacuum removes. ``tests/serving/test_prediction_log_crash.py`` kills a writer at the fault
points ``prediction_log.before_commit`` and ``prediction_log.committed`` and with a real SIGKILL
mid-traffic, and checks both halves.

**Compaction.** Each commit adds a file, and every commit and read of the table pays for every file
(a commit took 10 ms at 40 files, 20 ms at 2,300). With ``compact_min_files`` (``predict-server``
passes the data home's setting, 64), every that many commits the table is compacted when it holds
that many files (:mod:`usecases.compaction`, a ``store.compact`` entry), in a thread of its own: a
compaction rewrites up to millions of rows, and the queue must keep draining meanwhile. Delta lets the
two commit side by side: an append reads nothing a compaction changes. A failed compaction is logged
and tried again after as many commits; rows are never at stake.

**Audit.** One entry per flush would be tens of thousands a day under steady traffic and would drown
the trail, so the log writes one ``serving.logged`` entry per ``audit_every_rows`` committed rows
(default 10,000), at most one every ``audit_every_seconds`` (default 60: under a load of 100,000
rows a second, ten entries a second otherwise), and one at ``close``: rows and commits per model
version and role, the Delta versions covered, and the rows dropped or failed since the previous
entry. The rows themselves are their own record (each commit names its digest in
``driftline.sources``); reconciliation does not recover served commits one by one
(:mod:`usecases.reconcile`), so a killed server's last commits (up to a minute's) stand in the table
without an entry, and the next entry's Delta version range starts after them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from driftline.atomic import fault_point
from driftline.clock import utc_now
from driftline.errors import DriftlineError, InputError
from features.served_predictions import (
    KEY_COLUMNS,
    SERVED_GROUP,
    batch_source,
)
from features.store import FeatureStore
from governance.actor import Actor
from governance.audit import AuditLog
from serving.log_rows import run_frame, runs, widens
from serving.served import ServedBatch
from usecases.compaction import compact_if_fragmented

if TYPE_CHECKING:
    from tasks.workspace import Workspace


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogCommit:
    """One commit of served rows: the Delta version it landed at, its rows and their requests."""

    delta_version: int
    rows: int
    request_ids: tuple[str, ...]


@dataclass(frozen=True)
class LogStats:
    """Counts since the log opened: submitted = committed + dropped + failed + still pending."""

    submitted_rows: int
    committed_rows: int
    dropped_rows: int
    failed_rows: int
    pending_rows: int
    commits: int


class PredictionLog:
    """A :class:`~serving.served.PredictionSink` writing to ``store``'s ``served_predictions`` group.

    ``entity_keys`` are the contracts' key columns, kept as columns of their own when a batch carries
    them (erasure deletes by them). ``audit`` and ``actor`` are optional: without them nothing is
    audited (tests, ``--no-audit``). ``on_commit`` is called from the writer thread after each commit.
    """

    def __init__(self, store: FeatureStore, *, entity_keys: Sequence[str] = (), audit: AuditLog | None = None,
                 actor: Actor | None = None, batch_rows: int = 50_000, flush_seconds: float = 2.0,
                 max_pending_rows: int | None = None, max_pending_requests: int = 10_000,
                 audit_every_rows: int = 10_000, audit_every_seconds: float = 60.0,
                 compact_min_files: int | None = None,
                 on_commit: Callable[[LogCommit], None] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        if (batch_rows < 1 or not flush_seconds > 0 or audit_every_rows < 1 or max_pending_requests < 1
                or not audit_every_seconds >= 0 or (compact_min_files is not None and compact_min_files < 2)):
            raise InputError(f"prediction log with batch_rows={batch_rows}, flush_seconds={flush_seconds}, "
                             f"audit_every_rows={audit_every_rows}, audit_every_seconds={audit_every_seconds}, "
                             f"max_pending_requests={max_pending_requests}, compact_min_files={compact_min_files}",
                             hint="give batch_rows, audit_every_rows and max_pending_requests >= 1, "
                                  "flush_seconds > 0, audit_every_seconds >= 0 and compact_min_files >= 2")
        limit = 4 * batch_rows if max_pending_rows is None else max_pending_rows
        if limit < batch_rows:
            raise InputError(f"max_pending_rows={limit} is below batch_rows={batch_rows}",
                             hint="let the queue hold at least one batch")
        if (audit is None) != (actor is None):
            raise InputError("the prediction log was given an audit trail without an actor, or the reverse",
                             hint="pass both audit and actor, or neither")
        self.store, self.entity_keys = store, tuple(entity_keys)
        self.batch_rows, self.flush_seconds, self.max_pending_rows = batch_rows, flush_seconds, limit
        self.max_pending_requests = max_pending_requests
        self._audit, self._actor, self._audit_every = audit, actor, audit_every_rows
        self._audit_seconds, self._audited_at = audit_every_seconds, time.monotonic()
        self._on_commit, self._clock = on_commit, clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, ServedBatch]] = deque()
        self._queued_rows = self._pending_rows = self._pending_batches = 0
        self._submitted = self._committed = self._dropped = self._failed = self._commits = 0
        self._accepted_seq = self._done_seq = 0
        self._flush_wanted = self._closing = self._closed = False
        self._since_audit: Counter[str] = Counter()
        self._audit_versions: list[int] = []
        self._audit_dropped = self._audit_failed = self._audit_commits = 0
        self._schema: pa.Schema | None = None  # the table's, read once; a merge only adds columns
        self._compact_min_files, self._uncompacted_commits = compact_min_files, 0
        self._compactor: threading.Thread | None = None
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    @classmethod
    def for_workspace(cls, ws: "Workspace", *, audited: bool = True, **options: object) -> "PredictionLog":
        """The log of a data home: its store, the contracts' entity keys, its audit trail and actor."""
        keys = sorted({k for c in ws.contracts.values() for k in c.entity_keys})
        audit = {"audit": ws.audit, "actor": ws.actor()} if audited else {}
        options.setdefault("compact_min_files", ws.settings.compact_min_files)
        return cls(ws.store, entity_keys=keys, **audit, **options)  # type: ignore[arg-type]

    # -- the request side: never waits for I/O -------------------------------------------------
    def submit(self, batch: ServedBatch) -> None:
        rows = batch.outputs.height
        with self._cond:
            if self._closing:
                raise InputError("the prediction log is closed", hint="open a new PredictionLog")
            self._submitted += rows
            if self._pending_rows + rows > self.max_pending_rows or self._pending_batches >= self.max_pending_requests:
                self._dropped += rows
                self._audit_dropped += rows
                return
            self._queue.append((time.monotonic(), batch))
            self._queued_rows += rows
            self._pending_rows += rows
            self._pending_batches += 1
            self._accepted_seq += 1
            if self._queued_rows >= self.batch_rows or len(self._queue) == 1:
                self._cond.notify_all()

    @property
    def stats(self) -> LogStats:
        with self._cond:
            return LogStats(self._submitted, self._committed, self._dropped, self._failed,
                            self._pending_rows, self._commits)

    def flush(self, timeout: float | None = None) -> bool:
        """Commit what was submitted before this call; True once it is committed (or failed, counted)."""
        with self._cond:
            target = self._accepted_seq
            self._flush_wanted = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._done_seq >= target or not self._thread.is_alive(), timeout)

    def close(self) -> None:
        """Commit what is queued, stop the writer and write the last audit entry (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self._compactor is not None and self._compactor.is_alive():
            # Seconds in steady traffic; the first compaction of a large backlog can take minutes. A
            # second Ctrl-C ends the wait, and a compaction cut short commits nothing (rows are safe).
            log.warning("prediction log: waiting for the compaction of store/%s to finish", SERVED_GROUP)
            self._compactor.join()
        with self._cond:
            self._closed = True
        self._write_audit(final=True)

    # -- the writer thread ---------------------------------------------------------------------
    def _due(self) -> bool:
        if not self._queue:
            return False
        oldest = self._queue[0][0]
        return (self._queued_rows >= self.batch_rows or self._closing or self._flush_wanted
                or time.monotonic() - oldest >= self.flush_seconds)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due():
                    if self._closing:
                        return
                    if self._flush_wanted:  # nothing queued: the flush is done
                        self._flush_wanted = False
                        self._cond.notify_all()
                    wait = None if not self._queue else self.flush_seconds - (time.monotonic() - self._queue[0][0])
                    self._cond.wait(None if wait is None else max(wait, 0.001))
                taken = [b for _, b in self._queue]
                self._queue.clear()
                self._queued_rows = 0
                seq = self._accepted_seq
            self._write(taken, seq)

    def _write(self, batches: list[ServedBatch], seq: int) -> None:
        rows = sum(b.outputs.height for b in batches)
        committed: LogCommit | None = None
        try:
            committed = self._commit(batches, rows)
        except Exception as exc:  # noqa: BLE001 - the thread's edge: nothing may end the writer
            # The writer must outlive a bad batch, a full disk or a bug: a dead writer would drop
            # every later answer unseen. Count the rows, say why, carry on.
            log.error("prediction log: %d served rows could not be stored: %s", rows, exc)
        with self._cond:
            self._pending_rows -= rows
            self._pending_batches -= len(batches)
            if committed is None:
                self._failed += rows
                self._audit_failed += rows
            else:
                self._committed += rows
                self._commits += 1
                self._audit_commits += 1
                self._audit_versions.append(committed.delta_version)
                for b in batches:
                    self._since_audit[f"{b.model}:v{b.version}:{b.role}"] += b.outputs.height
            self._done_seq = max(self._done_seq, seq)
            if not self._queue:
                self._flush_wanted = False
            due = (sum(self._since_audit.values()) >= self._audit_every
                   and time.monotonic() - self._audited_at >= self._audit_seconds)
            self._cond.notify_all()
        if committed is not None:
            self._maybe_compact()
        if committed is not None and self._on_commit is not None:
            self._on_commit(committed)
        if due:
            self._write_audit(final=False)

    def _commit(self, batches: list[ServedBatch], rows: int) -> LogCommit:
        logged_at = self._clock()
        ids = tuple(dict.fromkeys(b.request_id for b in batches))
        source = batch_source(ids, logged_at)
        frames = [run_frame(run, self.entity_keys, logged_at, source) for run in runs(batches)]
        # Categories are stored as their text: Delta keeps a dictionary column as a string column anyway,
        # and the next batch's dictionary type would otherwise look like a change of type.
        frame = pl.concat(frames, how="diagonal_relaxed")
        table = frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String)).to_arrow()
        self._check_types(table)
        fault_point("prediction_log.before_commit")
        # Only the bookkeeping columns may get min/max statistics in the Delta log (it outlives erasure).
        private = [c for c in table.column_names if c not in KEY_COLUMNS]
        # Under the group's write lock: an erasure or retention delete of served rows (another process)
        # holds it while it reads and rewrites, and would otherwise lose its commit to ours every time.
        with self.store.write_lock(SERVED_GROUP):
            version = self.store.append(SERVED_GROUP, table, sources=[source], key_columns=KEY_COLUMNS,
                                        pii_columns=private, keep_open=True)
        if self._schema is None or not set(table.column_names) <= set(self._schema.names):
            self._schema = None  # the commit created the table or merged in columns: read it again
        fault_point("prediction_log.committed")
        return LogCommit(delta_version=version, rows=rows, request_ids=ids)

    def _maybe_compact(self) -> None:
        if self._compact_min_files is None:
            return
        self._uncompacted_commits += 1
        busy = self._compactor is not None and self._compactor.is_alive()
        if self._uncompacted_commits < self._compact_min_files or busy:
            return
        self._uncompacted_commits = 0
        self._compactor = threading.Thread(target=self._compact, name="prediction-log-compact", daemon=True)
        self._compactor.start()

    def _compact(self) -> None:
        assert self._compact_min_files is not None
        try:
            compact_if_fragmented(self.store, SERVED_GROUP, min_files=self._compact_min_files, audit=self._audit,
                                  actor=self._actor)
        except Exception as exc:  # noqa: BLE001 - housekeeping: the rows are committed, serving goes on
            log.error("prediction log: compaction of store/%s failed (tried again later): %s", SERVED_GROUP, exc)

    def _check_types(self, table: pa.Table) -> None:
        """Refuse rows whose column the table holds as another type: Delta would cast them on append
        (1.5 into an integer column is stored as 1), and a monitor must never read a value nobody sent."""
        stored = self._schema if self._schema is not None else self.store.arrow_schema(SERVED_GROUP)
        if stored is None:
            return
        self._schema = stored
        for field in table.schema:
            if field.name in stored.names and not pa.types.is_null(field.type):
                kept = stored.field(field.name).type
                if kept != field.type and not widens(field.type, kept):
                    raise InputError(f"served column {field.name!r} is {field.type} in this batch but {kept} in "
                                     f"store/{SERVED_GROUP}", hint="serve the feature with one type in every model")

    def _write_audit(self, *, final: bool) -> None:
        with self._cond:
            counts, versions = dict(self._since_audit), list(self._audit_versions)
            dropped, failed, commits = self._audit_dropped, self._audit_failed, self._audit_commits
            self._since_audit.clear()
            self._audit_versions.clear()
            self._audit_dropped = self._audit_failed = self._audit_commits = 0
            self._audited_at = time.monotonic()
        if self._audit is None or self._actor is None or not (counts or dropped or failed):
            return
        try:
            self._audit.append("serving.logged", f"group:{SERVED_GROUP}", {
                "rows": sum(counts.values()), "commits": commits, "rows_by_version_role": counts,
                "delta_versions": [min(versions), max(versions)] if versions else None,
                "dropped_rows": dropped, "failed_rows": failed, "final": final}, actor=self._actor)
        except DriftlineError as exc:  # the rows are stored; a trail that cannot be written must not stop serving
            log.error("prediction log: the serving.logged entry could not be written: %s", exc)
