"""Ingestion: landing drops in, validated rows into the store, bad rows and files into quarantine.

:func:`ingest_files` takes drops named ``landing/<group>/<file>``; per group it reads each drop
batch by batch, validates the rows, stages the good ones as Parquet files of about a million rows
in a temporary folder under the store, quarantines the bad ones, and then adds every staged file
of the group, as written, in ONE Delta commit whose metadata lists the drops' sha256 — so a drop
is either fully ingested (and known as such) or not at all, and the same bytes arriving again,
under any name, are a "duplicate".
A file that breaks as a whole (unparseable, missing a required column, an unknown column unless
the contract ignores undeclared ones, an event-time column of which not one value reads) is
quarantined whole and stores nothing. ``ingest_files(..., group=NAME)`` takes drops from anywhere
for the named group (``ingest FILE|FOLDER --group NAME``). Duplicate (entity keys, event time) rows: inside one drop
the first occurrence is kept and later ones are quarantined (a drop that states two values for one
key and time contradicts itself); across drops the contract decides — ``keep_latest`` stores both
and readers keep the latest ``_ingested_at`` (drops of one call are stamped a microsecond apart in
the order given, so a later drop wins), ``reject`` quarantines a row whose key is already stored
or came earlier in the call. Every report satisfies ``rows_in == rows_stored + rows_quarantined``.
Drops are read as data only (``features/drop_guard.py``): each is opened once, without following
a link, hashed and read from that one handle; a link, a special file or a file outside landing is
refused unread (the quarantine keeps its name and reason, keyed by the sha256 of its path). A drop
past a read limit (``ReadLimits``) is quarantined whole as "poisoned" and, known by its digest,
never read again. Staging folders are named ``.staging-<pid>-*``: each ingestion first removes
those whose process is dead (a kill -9), never a live one's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar

import numpy as np
import polars as pl

from driftline.atomic import fault_point
from driftline.errors import DriftlineError, IngestError, NotFoundError
from driftline.progress import Progress
from driftline.progress import report as report_progress
from driftline.staging import STAGING_PREFIX, remove_dead_staging
from features.background import WriteBehind, read_ahead
from features.contracts import FeatureGroupContract
from features.drop_guard import (DEFAULT_READ_LIMITS, PoisonedDrop, ReadLimits, RefusedFile, format_is_text,
                                 inside, name_digest, open_drop_file, scan)
from features.evolution import ContractLedger
from features.quarantine import Quarantine
from features.readers import RESERVED, ROW, open_drop
from features.stager import Stager
from features.store import FeatureStore
from features.validation import (DEFAULT_LIMITS, INGESTED_AT, REASON, SOURCE, KeyIndex, Limits, check_header,
                                 key_hashes, stored_schema, validate_batch)

@dataclass(frozen=True)
class IngestReport:
    """What happened to one drop. ``reasons`` counts quarantined rows per kind of problem."""

    file: str
    group: str
    content_sha256: str
    status: Literal["stored", "duplicate", "rejected"]
    rows_in: int
    rows_stored: int
    rows_quarantined: int
    reasons: Mapping[str, int]
    delta_version: int | None
    quarantine_path: str | None
    error: str | None
    ignored_columns: tuple[str, ...] = ()  # undeclared columns left out (contract: undeclared = "ignore")


@dataclass
class _FileState:
    """Mutable tally of one drop while it is read (private; the result is an IngestReport)."""

    rows_in: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    parts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seen: KeyIndex = field(default_factory=lambda: KeyIndex())
    hashes: list[np.ndarray] = field(default_factory=list)
    pending: list[pl.DataFrame] = field(default_factory=list)
    quarantine_path: str | None = None
    ignored: dict[str, None] = field(default_factory=dict)  # undeclared columns ignored, in file order
    time_sample: str | None = None  # an event time that did not read, for the refusal's message


def named_contract(group: str, contracts: Mapping[str, FeatureGroupContract]) -> FeatureGroupContract:
    """The contract of a group named by the user (``--group``); NotFoundError naming the known ones."""
    if group not in contracts:
        raise NotFoundError(f"no contract for feature group {group!r}",
                            hint=f"known groups: {', '.join(sorted(contracts)) or 'none'}; write one with "
                                 f"`python -m flows contract infer FILE --group {group} ...`")
    return contracts[group]


def group_of(path: Path, landing_root: Path, contracts: Mapping[str, FeatureGroupContract]) -> FeatureGroupContract:
    """The contract of the group a drop belongs to: the first folder under the landing root."""
    try:
        # The folder is resolved, the name is not: a link named in a group folder belongs to the group
        # (and is then refused unread), and is never taken for its target's place.
        relative = (Path(path).parent.resolve() / Path(path).name).relative_to(Path(landing_root).resolve())
    except ValueError as exc:
        raise IngestError(f"{path} is not under the landing folder {landing_root}",
                          hint="drop files as landing/<group>/<file>, or name the group: ingest FILE --group NAME"
                          ) from exc
    if len(relative.parts) < 2:
        raise IngestError(f"{path} lies directly in {landing_root}; its group is unknown",
                          hint="drop files as landing/<group>/<file>")
    group = relative.parts[0]
    if group not in contracts:
        raise NotFoundError(f"no contract for feature group {group!r} (folder of {Path(path).name})",
                            hint=f"known groups: {', '.join(sorted(contracts)) or 'none'}; add a contract")
    return contracts[group]


def ingest_files(paths: Sequence[Path], contracts: Mapping[str, FeatureGroupContract], store: FeatureStore,
                 quarantine: Quarantine, *, landing_root: Path, now: datetime | None = None,
                 limits: Limits = DEFAULT_LIMITS, read_limits: ReadLimits = DEFAULT_READ_LIMITS,
                 batch_rows: int = 100_000, group: str | None = None,
                 progress: Progress | None = None) -> list[IngestReport]:
    """Ingest drops; all drops of one group are committed together. Reports come in input order.
    ``progress(done, total, drop name)`` is called once per drop after it is read (stored, refused,
    quarantined or known), before its group's commit.

    ``group`` names the group of every drop (``ingest FILE --group NAME``: files anywhere, read as
    data just the same); without it a drop's group is its folder under ``landing_root``. A named
    group without a contract is refused (NotFoundError) before anything is read or written."""
    now = now or datetime.now(UTC)
    if group is not None:
        named_contract(group, contracts)
    remove_dead_staging(store.root)
    reports: dict[int, IngestReport] = {}
    by_group: dict[str, list[tuple[int, Path]]] = {}
    handled = 0

    def tick(path: Path) -> None:
        nonlocal handled
        handled += 1
        report_progress(progress, handled, len(paths), path.name)

    for index, path in enumerate(paths):
        path = Path(path)
        if group is not None:
            by_group.setdefault(group, []).append((index, path))
            continue
        try:
            by_group.setdefault(group_of(path, landing_root, contracts).name, []).append((index, path))
        except DriftlineError as exc:
            reports[index] = _reject_ungrouped(quarantine, path, landing_root, exc)
            tick(path)
    ledger = ContractLedger(store.root / "_contracts")
    for group in by_group:  # a breaking contract change stops here, before anything is written
        ledger.admit(contracts[group])
    for group, files in by_group.items():
        reports.update(_ingest_group(contracts[group], files, store, quarantine, now, limits, batch_rows,
                                     landing_root=landing_root, read_limits=read_limits, tick=tick))
    return [reports[i] for i in range(len(paths))]


_D = TypeVar("_D")


def _ticking(items: Iterable[tuple[tuple[int, Path], _D]],
             tick: Callable[[Path], None]) -> Iterator[tuple[tuple[int, Path], _D]]:
    """``items`` ((index, path), drop), calling ``tick(path)`` when the loop asks for the next one:
    after the loop's body for that drop ran, whichever way it ended (``continue`` included)."""
    for item in items:
        yield item
        tick(item[0][1])


def _reject_ungrouped(quarantine: Quarantine, path: Path, landing_root: Path, exc: DriftlineError) -> IngestReport:
    """A drop with no group (or outside landing): its bytes are kept only if it is a regular file under landing."""
    group = path.parent.name or "_unassigned"
    if not inside(path, landing_root):
        return _refused(quarantine, path, group, str(exc))
    try:
        handle = open_drop_file(path, landing_root)
    except RefusedFile as refused:
        return _refused(quarantine, path, group, f"{exc}; {refused}")
    with handle:
        digest = scan(handle, path.name, ReadLimits(), text=False).digest
        where = quarantine.put_file(group=group, source=path, digest=digest, reason=str(exc), data=handle)
    return IngestReport(path.name, group, digest, "rejected", 0, 0, 0, {}, None, str(where), str(exc))


def _refused(quarantine: Quarantine, path: Path, group: str, reason: str) -> IngestReport:
    """A file not read at all: recorded by its name and reason, keyed by the sha256 of its path."""
    digest = name_digest(path)
    where = quarantine.put_file(group=group, source=path, digest=digest, reason=reason, data=None)
    return IngestReport(path.name, group, digest, "rejected", 0, 0, 0, {}, None, str(where), reason)


@dataclass
class _Opened:
    """A drop opened as data and scanned; ``refused`` when it could not be (then no handle)."""

    handle: BinaryIO | None
    digest: str
    problem: str | None
    refused: RefusedFile | None = None


def _open_all(files: list[tuple[int, Path]], landing_root: Path, limits: ReadLimits) -> Iterator[_Opened]:
    for _, path in files:
        try:
            handle = open_drop_file(path, landing_root)
        except RefusedFile as exc:
            yield _Opened(None, name_digest(path), None, exc)
            continue
        try:
            found = scan(handle, path.name, limits, text=format_is_text(path))
        except BaseException:
            handle.close()
            raise
        yield _Opened(handle, found.digest, found.problem)


@dataclass(frozen=True)
class _Taken:
    """A drop of this call whose rows are staged: where it stands in the call, and its tally."""

    index: int
    order: int
    path: Path
    digest: str
    state: _FileState


def _ingest_group(contract: FeatureGroupContract, files: list[tuple[int, Path]], store: FeatureStore,
                  quarantine: Quarantine, now: datetime, limits: Limits, batch_rows: int, *, landing_root: Path,
                  read_limits: ReadLimits, tick: Callable[[Path], None]) -> dict[int, IngestReport]:
    group = contract.name
    start = store.version(group)
    done = store.ingested_sources(group)
    seen_in_call: set[str] = set()
    key_columns = [*contract.entity_keys, contract.event_time]
    taken = _stored_keys(store, contract) if contract.duplicates == "reject" else KeyIndex()
    stamp = datetime.now(UTC)
    store.root.mkdir(parents=True, exist_ok=True)
    reports: dict[int, IngestReport] = {}
    stored: list[_Taken] = []
    # The next drop is hashed, and the staged files written, by background threads (see background.py).
    # Bad rows go to the quarantine through a writer of their own, so they never wait behind a file.
    # Named with the pid, so that the next ingestion can tell a dead process's folder from a live one's.
    with (tempfile.TemporaryDirectory(dir=store.root, prefix=f"{STAGING_PREFIX}{os.getpid()}-") as work,
          WriteBehind() as writer, WriteBehind(depth=4) as quarantined):
        stager = Stager(Path(work), writer)

        def take(index: int, order: int, path: Path, digest: str, handle: BinaryIO, *, problem: str | None = None,
                 exact_only: bool = False) -> None:
            state = _FileState()
            try:
                if problem is not None:
                    raise PoisonedDrop(problem, hint="split the drop into smaller files, or raise the limit")
                for exact in ((True,) if exact_only else (False, True)):  # exact only when the quick check flags
                    if exact:
                        quarantined.wait()  # this drop's quarantine parts from the quick pass
                    quarantine.purge(group, digest)
                    state = _FileState()
                    if _ingest_file(path, handle, digest, contract, quarantine, quarantined, stager, state, taken,
                                    exact=exact, now=now, limits=limits, read_limits=read_limits,
                                    batch_rows=batch_rows, workdir=Path(work),
                                    ingested_at=stamp + timedelta(microseconds=order)):
                        break
                    stager.discard(digest)
            except IngestError as exc:
                stager.discard(digest)
                quarantined.wait()  # the drop's quarantine parts in flight, replaced by the file
                where = quarantine.put_file(group=group, source=path, digest=digest, reason=str(exc), data=handle,
                                            poisoned=isinstance(exc, PoisonedDrop))
                reports[index] = IngestReport(path.name, group, digest, "rejected", state.rows_in, 0, state.rows_in,
                                              {"file rejected": state.rows_in}, None, str(where), str(exc))
                return
            if contract.duplicates == "reject":
                taken.merge(state.seen)
            stored.append(_Taken(index, order, path, digest, state))

        # Each drop is opened once, as data, and hashed (one drop ahead, in a thread); it is read
        # from that handle only, so what is read is what was checked and hashed.
        drops = _ticking(zip(files, read_ahead(_open_all(files, landing_root, read_limits)), strict=True), tick)
        for order, ((index, path), drop) in enumerate(drops):
            digest = drop.digest
            if drop.handle is None:
                reports[index] = _refused(quarantine, path, group, str(drop.refused))
                continue
            with drop.handle:
                if digest in done or digest in seen_in_call:
                    reports[index] = IngestReport(path.name, group, digest, "duplicate", 0, 0, 0, {}, None, None,
                                                  None)
                    continue
                seen_in_call.add(digest)
                if (known := quarantine.poisoned(group, digest)) is not None:  # never read a poisoned drop twice
                    reports[index] = IngestReport(path.name, group, digest, "rejected", 0, 0, 0, {}, None,
                                                  str(quarantine.folder(group, digest)),
                                                  f"{path.name}: quarantined before, not read again: {known}")
                    continue
                take(index, order, path, digest, drop.handle, problem=drop.problem)
        version = None
        # Reading and staging run unlocked; the check that no other writer stored the same drops
        # (or, in a reject group, the same keys) meanwhile and the commit run under the group's lock.
        with store.ingest_lock(group):
            if stored and store.version(group) != start:
                late = store.ingested_sources(group) - done
                for entry in [e for e in stored if e.digest in late]:
                    stager.discard(entry.digest)
                    reports[entry.index] = IngestReport(entry.path.name, group, entry.digest, "duplicate",
                                                        0, 0, 0, {}, None, None, None)
                redo, stored = [e for e in stored if e.digest not in late], []
                if contract.duplicates == "reject":
                    taken = _stored_keys(store, contract)  # keys stored meanwhile decide first
                    for entry in redo:
                        stager.discard(entry.digest)
                    for entry in redo:
                        with _reopen(entry.path, entry.digest, landing_root) as handle:
                            take(entry.index, entry.order, entry.path, entry.digest, handle, exact_only=True)
                else:
                    stored = redo
            quarantined.wait()  # every quarantined row is on disk before the rows that passed are committed
            if stored:
                staged = stager.close()
                sources = [e.digest for e in stored]
                fault_point("ingest.before_commit")  # rows quarantined, nothing committed yet
                if staged:
                    version = store.append_files(group, staged, sources=sources, key_columns=key_columns,
                                                 pii_columns=contract.pii_columns)
                else:
                    version = store.append(group, stored_schema(contract).empty_table(), sources=sources,
                                           key_columns=key_columns, pii_columns=contract.pii_columns)
                fault_point("ingest.committed")  # stored, not yet audited: usecases.reconcile recovers it
    for e in stored:
        reports[e.index] = IngestReport(e.path.name, group, e.digest, "stored", e.state.rows_in, e.state.rows_stored,
                                        e.state.rows_quarantined, dict(e.state.reasons), version,
                                        e.state.quarantine_path, None, tuple(e.state.ignored))
    return reports


def _reopen(path: Path, digest: str, landing_root: Path) -> BinaryIO:
    """A drop opened again for a second reading (rare: keys another writer stored meanwhile)."""
    handle = open_drop_file(path, landing_root)
    if scan(handle, path.name, ReadLimits(), text=False).digest != digest:
        handle.close()
        raise IngestError(f"{path.name} changed while it was being ingested",
                          hint="write drops under a temporary name and rename them into landing/ when whole")
    return handle


def _stored_keys(store: FeatureStore, contract: FeatureGroupContract) -> KeyIndex:
    index = KeyIndex()
    if store.version(contract.name) is not None:
        hashes = key_hashes(store.read(contract.name), contract)
        index.add(hashes, np.full(len(hashes), -1, dtype=np.int64))
    return index


def _ingest_file(path: Path, handle: BinaryIO, digest: str, contract: FeatureGroupContract, quarantine: Quarantine,
                 quarantined: WriteBehind, stager: Stager, state: _FileState, taken: KeyIndex, *, exact: bool,
                 now: datetime, limits: Limits, read_limits: ReadLimits, batch_rows: int, workdir: Path,
                 ingested_at: datetime) -> bool:
    """Read, check and stage one drop; False when a key repeats and the drop must be read again exactly.

    Keys: with ``exact``, each batch's rows are checked against the keys seen so far (a sorted index
    per file) and repeats are quarantined with the row they repeat. Without it, the drop's key hashes
    are only collected and checked once at the end (one pass): no repeat, the usual case, and the
    drop is done at a fraction of the cost; a repeat, and the caller takes the drop back and reads
    it again exactly."""
    drop = open_drop(handle, workdir, batch_rows=batch_rows, limits=read_limits, name=path.name)
    if drop.columns is not None:
        state.ignored.update(dict.fromkeys(check_header(drop.columns, contract, file=path.name)))
    not_read = f"{contract.event_time}: not {contract.column(contract.event_time).dtype}"
    for batch in read_ahead(drop.batches()):
        state.rows_in += batch.height
        if drop.columns is None:  # JSON Lines: the reader's own columns are its, never the drop's
            ignored = check_header([c for c in batch.columns if c not in RESERVED], contract, file=path.name)
            state.ignored.update(dict.fromkeys(ignored))
        result = validate_batch(batch, contract, now=now, limits=limits, replaced_bytes=drop.format != "parquet")
        if state.time_sample is None and result.reasons.get(not_read):
            state.time_sample = next(iter(result.bad[contract.event_time].drop_nulls().head(1)), None)
        if exact:
            good, dups = _split_duplicates(result.good, contract, state, taken)
        else:
            good, dups = result.good, result.good.clear()
            state.hashes.append(key_hashes(good, contract))
        bad = result.bad
        if dups.height:
            bad = pl.concat([bad, dups], how="diagonal_relaxed")
            kind = "duplicate key"
            state.reasons[kind] = state.reasons.get(kind, 0) + dups.height
        for kind, count in result.reasons.items():
            state.reasons[kind] = state.reasons.get(kind, 0) + count
        if bad.height:
            state.pending.append(bad)
            state.rows_quarantined += bad.height
        if sum(p.height for p in state.pending) >= batch_rows:
            _quarantine_pending(quarantine, quarantined, contract, path, digest, state)
        rows = good.drop(ROW).with_columns(pl.lit(ingested_at).dt.cast_time_unit("us").alias(INGESTED_AT),
                                           pl.lit(digest).alias(SOURCE))
        stager.add(rows, digest)
        state.rows_stored += rows.height
    if state.rows_in and state.reasons.get(not_read) == state.rows_in:
        raise _time_unreadable(path.name, contract, state.time_sample)
    if not exact and not _keys_are_new(state, taken, remember=contract.duplicates == "reject"):
        return False
    _quarantine_pending(quarantine, quarantined, contract, path, digest, state)
    return True


def _time_unreadable(name: str, contract: FeatureGroupContract, sample: str | None) -> IngestError:
    """Not one event time of the drop reads: the column is written another way (a file-wide
    problem, so the drop is refused whole rather than every row quarantined one by one)."""
    dtype = contract.column(contract.event_time).dtype
    example = "2026-03-01" if dtype == "date" else "2026-03-01T12:00:00Z"
    return IngestError(f"{name}: time column {contract.event_time!r} holds no readable {dtype} "
                       f"(first value {str(sample)[:40]!r})",
                       hint=f"write it as ISO-8601, e.g. {example} (a time without an offset is taken as UTC)")


def _keys_are_new(state: _FileState, taken: KeyIndex, *, remember: bool) -> bool:
    """No key twice in the drop and none already taken (``remember``: then kept in ``state.seen``)."""
    hashes = np.concatenate(state.hashes) if state.hashes else np.empty(0, dtype=np.uint64)
    # Polars' single-threaded sort takes a third of numpy's time on 64-bit keys, and half the CPU of n_unique.
    ordered = pl.Series(hashes).sort(multithreaded=False).to_numpy()
    if (ordered[1:] == ordered[:-1]).any():
        return False
    if remember:  # reject: no key stored before or taken earlier in the call either
        in_order = np.arange(len(ordered))
        if taken.lookup(ordered, in_order).any():
            return False
        state.seen.add(ordered, np.full(len(ordered), -1, dtype=np.int64), in_order)
    return True


def _quarantine_pending(quarantine: Quarantine, writer: WriteBehind, contract: FeatureGroupContract, path: Path,
                        digest: str, state: _FileState) -> None:
    # Bad rows are written a batch's worth at a time: one fsync'd part per batch_rows bad rows, by the
    # quarantine's writer thread (in order; the group waits for all of them before it commits).
    if state.pending:
        rows, part = pl.concat(state.pending, how="diagonal_relaxed").sort(ROW), state.parts
        writer.submit(lambda: quarantine.put_rows(group=contract.name, source=path, digest=digest, rows=rows,
                                                  part=part))
        state.parts += 1
        state.quarantine_path = str(quarantine.folder(contract.name, digest))
        state.pending = []


def _split_duplicates(good: pl.DataFrame, contract: FeatureGroupContract, state: _FileState,
                      taken: KeyIndex) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off rows whose (entity keys, event time) repeat in this drop, or — for a ``reject``
    group — were stored before or came in an earlier drop of this call."""
    hashes, rows = key_hashes(good, contract), good[ROW].to_numpy()
    order = np.argsort(hashes)
    earlier, taken_before = state.seen.lookup(hashes, order), taken.lookup(hashes, order) != 0
    ordered = hashes[order]
    if not earlier.any() and not taken_before.any() and not (ordered[1:] == ordered[:-1]).any():
        state.seen.add(hashes, rows, order)  # the usual case: no key seen before, none twice in the batch
        return good, _no_duplicates(contract)
    keys = pl.DataFrame({"h": hashes, "row": rows, "earlier": earlier, "taken": taken_before})
    # Rows come in file order, so the first row of a hash in this batch is its first occurrence.
    first = pl.when(pl.col("earlier") > 0).then(pl.col("earlier")).otherwise(pl.col("row").first().over("h"))
    keys = keys.with_columns(first.alias("first")).with_columns((pl.col("first") != pl.col("row")).alias("repeated"))
    keys = keys.with_columns((~pl.col("repeated") & ~pl.col("taken")).alias("new"))
    new = keys["new"].to_numpy()
    state.seen.add(hashes[new], rows[new])
    if new.all():
        return good, _no_duplicates(contract)
    same = ", ".join((*contract.entity_keys, contract.event_time))
    reason = (pl.when(pl.col("repeated")).then(pl.lit(f"duplicate key: same {same} as row ")
                                               + pl.col("first").cast(pl.String) + pl.lit(" of this file"))
              .otherwise(pl.lit("duplicate key: already stored or sent earlier (group rejects duplicates)")))
    dups = good.filter(~keys["new"]).with_columns(keys.filter(~pl.col("new")).select(reason.alias(REASON)))
    as_text = dups.select([pl.col(c).cast(pl.String) for c in contract.column_names] + [pl.col(ROW), pl.col(REASON)])
    return good.filter(keys["new"]), as_text


def _no_duplicates(contract: FeatureGroupContract) -> pl.DataFrame:
    return pl.DataFrame(schema={**{c: pl.String for c in contract.column_names}, ROW: pl.Int64, REASON: pl.String})
