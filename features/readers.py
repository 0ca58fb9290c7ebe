"""Readers of landing drops: CSV (also gzipped), Parquet and JSON Lines, batch by batch.

A drop is opened with :func:`open_drop`, which looks at the file (extension, size, header) and
raises :class:`~driftline.errors.IngestError` when the file as a whole cannot be read. Its
``batches()`` then yield polars frames of at most ``batch_rows`` rows, so a drop larger than
memory never loads whole: CSV and Parquet through polars' streaming scans, JSON Lines a fixed
number of lines at a time. Values stay raw (CSV and JSON as strings, Parquet in its own types);
typing them is the validator's job. A reader may flag a row it could
only half read in the reserved column ``_parse_error`` ("<kind>: <detail>"), which the validator
turns into a quarantine reason. Each batch carries ``_row``, the 1-based data row in the file.
CSV drops are comma-separated UTF-8 with one header line; a BOM and CRLF line ends are accepted,
bytes that are not UTF-8 are replaced by U+FFFD (and the row quarantined by the validator).
A drop is read exactly as opened (an open handle, handed to polars as ``/proc/self/fd/N`` with
globbing off, so ``day_00*.csv`` is one file), and within :class:`~features.drop_guard.ReadLimits`:
a gzip stops once it expands past ``max_decompressed_bytes`` (and its lines are measured as they
come), a Parquet file declaring more uncompressed bytes is refused before it is read, and a value
longer than ``max_field_bytes`` stops the drop (:class:`~features.drop_guard.PoisonedDrop`).
Column names driftline uses itself (:data:`RESERVED_COLUMNS`) may not come from a drop: the
header check refuses them, and a JSON object naming a reader's own column stops the drop here.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from driftline.errors import IngestError
from features.drop_guard import (DEFAULT_READ_LIMITS, LineMeter, PoisonedDrop, ReadLimits, fd_path, line_problem,
                                 size_text)

Format = Literal["csv", "parquet", "jsonl"]
PARSE_ERROR = "_parse_error"
ROW = "_row"
RAW_LINE = "_line"
RESERVED = frozenset({PARSE_ERROR, ROW, RAW_LINE})  # the readers' own columns
# Every column name the pipeline gives a meaning to; a drop naming one is refused whole.
RESERVED_COLUMNS = RESERVED | {"_reason", "_ingested_at", "_source"}
_TWO_63 = float(2**63)
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet",
                                ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(path: Path) -> tuple[Format, bool]:
    """The drop's format and whether it is gzipped, from its name (``x.csv.gz`` -> csv, gzipped)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise IngestError(f"{path.name}: unknown file type {''.join(Path(path).suffixes) or '(none)'}",
                          hint="drop .csv, .csv.gz, .parquet, .jsonl or .ndjson files")
    if gzipped and fmt == "parquet":
        raise IngestError(f"{path.name}: gzipped Parquet is not supported",
                          hint="Parquet compresses itself; drop the .parquet file as is")
    return fmt, gzipped


@dataclass(frozen=True)
class DropReader:
    """An opened drop. ``columns`` is the header (None for JSON Lines, whose rows name their keys).

    ``path`` is what is read: the opened drop as ``/proc/self/fd/N`` (alive as long as the caller's
    handle), or for a gzipped drop a decompressed copy in the caller's ``workdir``; ``name`` is the
    drop's own name, for messages.
    """

    path: Path
    format: Format
    columns: tuple[str, ...] | None
    batch_rows: int
    name: str = ""
    limits: ReadLimits = ReadLimits()

    def batches(self) -> Iterator[pl.DataFrame]:
        """Yield the drop's rows in frames of at most ``batch_rows``, each column one contiguous chunk;
        IngestError if the file breaks midway, PoisonedDrop if a value is longer than the limit."""
        reader = {"csv": self._csv, "parquet": self._parquet, "jsonl": self._jsonl}[self.format]
        offset = 0
        for frame in reader():
            if frame.height == 0:
                continue
            self._check_fields(frame, offset)
            # One chunk per column: a batch spanning two Parquet row groups (or CSV blocks) comes in
            # two, and polars would copy the whole frame into one again at every select on it.
            rows = pl.int_range(offset + 1, offset + 1 + frame.height, dtype=pl.Int64).alias(ROW)
            yield frame.rechunk().with_columns(rows)
            offset += frame.height

    def _check_fields(self, frame: pl.DataFrame, offset: int) -> None:
        # One aggregate per batch (string lengths are read from the offsets, not the bytes).
        texts = [c for c, t in frame.schema.items() if t == pl.String and c not in RESERVED]
        if not texts:
            return
        limit = self.limits.max_field_bytes
        longest = frame.select(pl.max_horizontal([pl.col(c).str.len_bytes().max() for c in texts])).item()
        if not isinstance(longest, int) or longest <= limit:  # None: no text at all
            return
        column = next(c for c in texts if (frame[c].str.len_bytes() > limit).any())
        row = offset + 1 + int(frame[column].str.len_bytes().arg_max() or 0)
        raise PoisonedDrop(f"{self.label}: row {row}: a value of {column} is longer than {size_text(limit)} "
                           "(DRIFTLINE_INGEST__MAX_FIELD_BYTES); the drop was quarantined whole",
                           hint="split or shorten the values, or raise the limit")

    @property
    def label(self) -> str:
        return self.name or self.path.name

    def _csv(self) -> Iterator[pl.DataFrame]:
        scan = pl.scan_csv(self.path, infer_schema=False, encoding="utf8-lossy", glob=False)
        try:
            yield from scan.collect_batches(chunk_size=self.batch_rows)
        except pl.exceptions.PolarsError as exc:
            raise IngestError(f"{self.label}: malformed CSV: {_first_line(exc)}",
                              hint="fix the quoting or the number of fields and drop the file again") from exc

    def _parquet(self) -> Iterator[pl.DataFrame]:
        # Polars' own streaming reader decodes columns in parallel (faster than pyarrow's batches).
        try:
            yield from pl.scan_parquet(self.path, glob=False).collect_batches(chunk_size=self.batch_rows)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise IngestError(f"{self.label}: unreadable Parquet: {_first_line(exc)}",
                              hint="write the file again; it may be truncated") from exc

    def _jsonl(self) -> Iterator[pl.DataFrame]:
        rows: list[dict[str, str | None]] = []
        limit = self.limits.max_line_bytes
        with open(self.path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if len(raw) > limit + 1:  # the drop's scan measured its lines; this guards a file changed since
                    raise PoisonedDrop(line_problem(self.label, line_no, limit))
                if not raw.strip():
                    continue
                try:
                    rows.append(_json_row(raw, line_no))
                except _OwnKeys as exc:
                    raise IngestError(f"{self.label}: {exc.message}", hint=exc.hint) from None
                if len(rows) >= self.batch_rows:
                    yield _frame(rows)
                    rows = []
        if rows:
            yield _frame(rows)


class _OwnKeys(IngestError):
    """A JSON object naming a reader's own column (the reader adds the file's name)."""


def _own_keys(line_no: int, keys: Iterable[str]) -> IngestError:
    names = ", ".join(sorted(set(keys) & RESERVED))
    return _OwnKeys(f"line {line_no}: key(s) {names} are reserved for driftline's own use",
                       hint=f"rename the key(s); reserved: {', '.join(sorted(RESERVED_COLUMNS))}")


def _json_row(raw: bytes, line_no: int) -> dict[str, str | None]:
    """One JSON line as raw strings; problems go to ``_parse_error`` so the row is kept for quarantine.

    orjson reads the usual line, an object of scalars, about twice as fast as the standard library.
    Any other line (invalid JSON or UTF-8, no object, a nested value, an integer past 64 bits,
    which orjson reads as a float or refuses, a NaN literal) is read again by ``json``, so rows and
    messages are the same either way."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _json_row_exactly(raw, line_no)
    if type(value) is not dict:
        return _json_row_exactly(raw, line_no)
    if not RESERVED.isdisjoint(value):  # a key that would pose as the reader's own column
        raise _own_keys(line_no, value)
    row: dict[str, str | None] = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str or item is None:
            row[key] = item
        elif kind is bool:
            row[key] = "true" if item else "false"
        elif kind is int or (kind is float and -_TWO_63 < item < _TWO_63):
            row[key] = str(item)
        else:  # nested, or a float that may be an integer orjson read past its 64 bits
            return _json_row_exactly(raw, line_no)
    return row


def _json_row_exactly(raw: bytes, line_no: int) -> dict[str, str | None]:
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return {PARSE_ERROR: f"invalid JSON: line {line_no}: {exc.msg} at column {exc.colno}", RAW_LINE: text.rstrip()}
    if not isinstance(value, dict):
        return {PARSE_ERROR: f"not a JSON object: line {line_no} holds a {type(value).__name__}",
                RAW_LINE: text.rstrip()}
    if not RESERVED.isdisjoint(value):
        raise _own_keys(line_no, value)
    row: dict[str, str | None] = {}
    nested = []
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            nested.append(key)
            row[key] = json.dumps(item, ensure_ascii=False)
        elif item is None:
            row[key] = None
        elif isinstance(item, bool):
            row[key] = "true" if item else "false"
        else:
            row[key] = str(item)
    if nested:
        row[PARSE_ERROR] = f"nested value: {', '.join(nested)} holds an object or array, expected a scalar"
    return row


def _frame(rows: list[dict[str, str | None]]) -> pl.DataFrame:
    names = list(dict.fromkeys(key for row in rows for key in row))
    return pl.DataFrame(rows, schema={name: pl.String for name in names})


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def open_drop(source: Path | BinaryIO, workdir: Path, *, batch_rows: int = 50_000,
              limits: ReadLimits = DEFAULT_READ_LIMITS, name: str | None = None) -> DropReader:
    """Open one drop for batch reading: an open handle (see ``features.drop_guard.open_drop_file``),
    read as exactly that file, or a path, read as exactly that name (no globbing). ``workdir``
    holds a decompressed copy of a gzipped drop. ``name`` defaults to the file's name."""
    handle = None if isinstance(source, (str, os.PathLike)) else source
    shown = Path(name or (Path(source).name if isinstance(source, (str, os.PathLike))
                          else Path(str(getattr(source, "name", "drop"))).name))
    fmt, gzipped = format_of(shown)
    path = Path(source) if isinstance(source, (str, os.PathLike)) else Path(fd_path(source))
    try:
        size = os.fstat(handle.fileno()).st_size if handle is not None else path.stat().st_size
    except OSError as exc:
        raise IngestError(f"{shown}: cannot be read: {exc.strerror}") from exc
    if size == 0:
        raise IngestError(f"{shown.name}: file is empty (0 bytes)", hint="drop a file with a header and rows")
    if gzipped:
        path = _gunzip(path, shown.name, workdir, limits)
    if fmt == "csv":
        return DropReader(path, fmt, _csv_header(path, shown.name), batch_rows, shown.name, limits)
    if fmt == "parquet":
        try:
            meta = pq.ParquetFile(path).metadata
            names = tuple(meta.schema.to_arrow_schema().names)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(f"{shown.name}: not a readable Parquet file: {_first_line(exc)}",
                              hint="write the file again; it may be truncated or not Parquet at all") from exc
        expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if expanded > limits.max_decompressed_bytes:
            raise PoisonedDrop(f"{shown.name}: Parquet declares {expanded} bytes uncompressed, more than "
                               f"{size_text(limits.max_decompressed_bytes)} "
                               "(DRIFTLINE_INGEST__MAX_DECOMPRESSED_BYTES); "
                               "the drop was quarantined whole", hint="split the drop into smaller files")
        return DropReader(path, fmt, names, batch_rows, shown.name, limits)
    return DropReader(path, fmt, None, batch_rows, shown.name, limits)


def _gunzip(path: Path, name: str, workdir: Path, limits: ReadLimits) -> Path:
    # Streamed to disk so that a large gzipped drop never sits decompressed in memory, and stopped
    # as soon as it expands past the limit or holds a line past the line limit (a gzip bomb costs
    # one chunk of memory and at most the limit of disk, removed at once).
    fd, name_out = tempfile.mkstemp(dir=workdir, suffix=".csv")
    target = Path(name_out)
    meter, total, limit = LineMeter(limits.max_line_bytes), 0, limits.max_decompressed_bytes
    try:
        with gzip.open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(meter.chunk_size()):
                total += len(chunk)
                if total > limit:
                    raise PoisonedDrop(f"{name}: decompresses to more than {size_text(limit)} "
                                       "(DRIFTLINE_INGEST__MAX_DECOMPRESSED_BYTES); the drop was quarantined whole",
                                       hint="split the drop into smaller files, or raise the limit")
                if (line := meter.feed(chunk)) is not None:
                    raise PoisonedDrop(line_problem(name, line, limits.max_line_bytes),
                                       hint="split long lines, or raise the limit")
                dst.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        target.unlink(missing_ok=True)
        raise IngestError(f"{name}: not a readable gzip file: {_first_line(exc)}",
                          hint="compress the file again with gzip") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if total == 0:
        raise IngestError(f"{name}: file is empty once decompressed", hint="drop a file with a header and rows")
    return target


def _csv_header(path: Path, name: str) -> tuple[str, ...]:
    try:
        names = tuple(pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", glob=False)
                      .collect_schema().names())
    except pl.exceptions.PolarsError as exc:
        raise IngestError(f"{name}: no CSV header could be read: {_first_line(exc)}",
                          hint="the first line must name the columns, comma-separated") from exc
    if not names or names == ("",):
        raise IngestError(f"{name}: the CSV header is blank", hint="the first line must name the columns")
    return names


def mentions(path: Path, key_column: str, keys: Iterable[str], *,
             max_bytes: int = ReadLimits().max_decompressed_bytes, _raw: bool = False) -> bool:
    """Whether a drop (or a quarantined copy of one) holds any of ``keys``: for erasure.

    Parquet is compressed, so its ``key_column`` is read and compared; text drops (gzip ones
    decompressed) and any file that cannot be read that way are searched byte for byte, which
    finds an id wherever it stands and may also match it inside a longer one (erasure then does
    a little more, never less). Text is searched a chunk at a time; past ``max_bytes`` (a gzip
    that expands without end) the drop is taken to hold them, for the same reason.
    """
    wanted = sorted({str(k) for k in keys})
    if not wanted:
        return False
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".pq")):
        try:
            hit = pl.col(key_column).cast(pl.String).is_in(wanted).any()
            found = pl.scan_parquet(path, glob=False).select(hit).collect()
            if found.item():
                return True
        except (pl.exceptions.PolarsError, OSError):
            pass  # unreadable or without the key column: searched as bytes below
    needles = [k.encode("utf-8") for k in wanted]
    keep = max(len(n) for n in needles) - 1  # bytes carried over so an id across two chunks is found
    tail, total, gz = b"", 0, path.name.lower().endswith(".gz") and not _raw
    try:
        with (gzip.open(path, "rb") if gz else path.open("rb")) as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
                window = tail + chunk
                if any(n in window for n in needles):
                    return True
                if total > max_bytes:
                    return True  # too large to search to the end (a gzip bomb): assume it does
                tail = window[-keep:] if keep else b""
    except (OSError, EOFError, zlib.error):
        if gz:  # a broken gzip is searched as it is
            return mentions(Path(path), key_column, wanted, max_bytes=max_bytes, _raw=True)
    return False
