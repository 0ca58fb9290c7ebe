"""One group's ingestion: its drops opened and hashed ahead, each taken, all committed in ONE Delta commit.

:func:`ingest_group` opens each drop of a group once, as data (``features/drop_guard.py``), hashed
one drop ahead in a thread; a refused file is recorded by name (:func:`refused`), a drop already
stored or met earlier in the call is a ``duplicate``, a drop known as poisoned is not read again.
Each other drop goes through :func:`features.ingest_drop.ingest_drop` (quick pass, then an exact
one when a key repeats); a file-wide problem quarantines it whole. Staging runs unlocked in a
``.staging-<pid>-*`` folder under the store; under the group's lock it checks that no other writer
stored the same drops (or, in a ``reject`` group, the same keys) meanwhile, waits for every
quarantined row to be on disk, then adds every staged file in one commit whose metadata lists the
drops' sha256 (kill points ``ingest.before_commit``, ``ingest.committed``). :class:`IngestReport`
is what each drop's outcome is reported as.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar

import numpy as np

from driftline.atomic import fault_point
from driftline.errors import IngestError
from driftline.staging import STAGING_PREFIX
from features.background import WriteBehind, read_ahead
from features.contracts import FeatureGroupContract
from features.drop_guard import (PoisonedDrop, ReadLimits, RefusedFile, format_is_text, name_digest, open_drop_file,
                                 scan)
from features.ingest_drop import DropTally, ingest_drop
from features.quarantine import Quarantine
from features.stager import Stager
from features.store import FeatureStore
from features.validation import KeyIndex, Limits, key_hashes, stored_schema


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


def refused(quarantine: Quarantine, path: Path, group: str, reason: str) -> IngestReport:
    """A file not read at all: recorded by its name and reason, keyed by the sha256 of its path."""
    digest = name_digest(path)
    where = quarantine.put_file(group=group, source=path, digest=digest, reason=reason, data=None)
    return IngestReport(path.name, group, digest, "rejected", 0, 0, 0, {}, None, str(where), reason)


_D = TypeVar("_D")


def _ticking(items: Iterable[tuple[tuple[int, Path], _D]],
             tick: Callable[[Path], None]) -> Iterator[tuple[tuple[int, Path], _D]]:
    """``items`` ((index, path), drop), calling ``tick(path)`` when the loop asks for the next one:
    after the loop's body for that drop ran, whichever way it ended (``continue`` included)."""
    for item in items:
        yield item
        tick(item[0][1])


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
    state: DropTally


def ingest_group(contract: FeatureGroupContract, files: list[tuple[int, Path]], store: FeatureStore,
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
            state = DropTally()
            try:
                if problem is not None:
                    raise PoisonedDrop(problem, hint="split the drop into smaller files, or raise the limit")
                for exact in ((True,) if exact_only else (False, True)):  # exact only when the quick check flags
                    if exact:
                        quarantined.wait()  # this drop's quarantine parts from the quick pass
                    quarantine.purge(group, digest)
                    state = DropTally()
                    if ingest_drop(path, handle, digest, contract, quarantine, quarantined, stager, state, taken,
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
                reports[index] = refused(quarantine, path, group, str(drop.refused))
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
        with store.write_lock(group):
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


