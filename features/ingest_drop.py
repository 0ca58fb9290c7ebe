"""One drop's pipeline: read it batch by batch, validate, split off repeated keys, stage, quarantine.

:func:`ingest_drop` reads one opened drop (:func:`features.readers.open_drop`), checks its header
against the contract (undeclared columns refused or ignored), validates each batch
(:func:`features.validation.validate_batch`), stages the good rows with their ``_ingested_at``
and source digest (:class:`features.stager.Stager`) and hands bad rows to the quarantine's writer
a batch's worth at a time, keeping the tally in a :class:`DropTally`. Duplicate (entity keys,
event time) rows: the quick pass only collects key hashes and checks them once at the end; a
repeat (or, in a ``reject`` group, a key already taken) makes it return False so the group reads
the drop again exactly, where the first occurrence is kept and later ones are quarantined with the
row they repeat. A drop of which not one event time reads is refused whole (an ``IngestError``).
The group (:mod:`features.ingest_group`) decides what happens to the tally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

from driftline.errors import IngestError
from features.background import WriteBehind, read_ahead
from features.contracts import FeatureGroupContract
from features.drop_guard import ReadLimits
from features.quarantine import Quarantine
from features.readers import RESERVED, ROW, open_drop
from features.stager import Stager
from features.validation import (INGESTED_AT, REASON, SOURCE, KeyIndex, Limits, check_header, key_hashes,
                                 validate_batch)


@dataclass
class DropTally:
    """Mutable tally of one drop while it is read (the group turns it into an IngestReport)."""

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


def ingest_drop(path: Path, handle: BinaryIO, digest: str, contract: FeatureGroupContract, quarantine: Quarantine,
                 quarantined: WriteBehind, stager: Stager, state: DropTally, taken: KeyIndex, *, exact: bool,
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


def _keys_are_new(state: DropTally, taken: KeyIndex, *, remember: bool) -> bool:
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
                        digest: str, state: DropTally) -> None:
    # Bad rows are written a batch's worth at a time: one fsync'd part per batch_rows bad rows, by the
    # quarantine's writer thread (in order; the group waits for all of them before it commits).
    if state.pending:
        rows, part = pl.concat(state.pending, how="diagonal_relaxed").sort(ROW), state.parts
        writer.submit(lambda: quarantine.put_rows(group=contract.name, source=path, digest=digest, rows=rows,
                                                  part=part))
        state.parts += 1
        state.quarantine_path = str(quarantine.folder(contract.name, digest))
        state.pending = []


def _split_duplicates(good: pl.DataFrame, contract: FeatureGroupContract, state: DropTally,
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
