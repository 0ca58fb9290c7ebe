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
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from driftline.errors import IngestError

Format = Literal["csv", "parquet", "jsonl"]
PARSE_ERROR = "_parse_error"
ROW = "_row"
RAW_LINE = "_line"
RESERVED = frozenset({PARSE_ERROR, ROW, RAW_LINE})
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

    ``path`` is the file actually read: for a gzipped CSV, a decompressed copy in a temporary
    folder that lives as long as the caller's ``workdir``.
    """

    path: Path
    format: Format
    columns: tuple[str, ...] | None
    batch_rows: int

    def batches(self) -> Iterator[pl.DataFrame]:
        """Yield the drop's rows in frames of at most ``batch_rows``, each column one contiguous chunk;
        IngestError if the file breaks midway."""
        reader = {"csv": self._csv, "parquet": self._parquet, "jsonl": self._jsonl}[self.format]
        offset = 0
        for frame in reader():
            if frame.height == 0:
                continue
            # One chunk per column: a batch spanning two Parquet row groups (or CSV blocks) comes in
            # two, and polars would copy the whole frame into one again at every select on it.
            rows = pl.int_range(offset + 1, offset + 1 + frame.height, dtype=pl.Int64).alias(ROW)
            yield frame.rechunk().with_columns(rows)
            offset += frame.height

    def _csv(self) -> Iterator[pl.DataFrame]:
        scan = pl.scan_csv(self.path, infer_schema=False, encoding="utf8-lossy")
        try:
            yield from scan.collect_batches(chunk_size=self.batch_rows)
        except pl.exceptions.PolarsError as exc:
            raise IngestError(f"{self.path.name}: malformed CSV: {_first_line(exc)}",
                              hint="fix the quoting or the number of fields and drop the file again") from exc

    def _parquet(self) -> Iterator[pl.DataFrame]:
        # Polars' own streaming reader decodes columns in parallel (faster than pyarrow's batches).
        try:
            yield from pl.scan_parquet(self.path).collect_batches(chunk_size=self.batch_rows)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise IngestError(f"{self.path.name}: unreadable Parquet: {_first_line(exc)}",
                              hint="write the file again; it may be truncated") from exc

    def _jsonl(self) -> Iterator[pl.DataFrame]:
        rows: list[dict[str, str | None]] = []
        with self.path.open("rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                rows.append(_json_row(raw, line_no))
                if len(rows) >= self.batch_rows:
                    yield _frame(rows)
                    rows = []
        if rows:
            yield _frame(rows)


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


def open_drop(path: Path, workdir: Path, *, batch_rows: int = 50_000) -> DropReader:
    """Open one drop for batch reading; ``workdir`` holds a decompressed copy of a gzipped CSV."""
    path = Path(path)
    fmt, gzipped = format_of(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read: {exc.strerror}") from exc
    if size == 0:
        raise IngestError(f"{path.name}: file is empty (0 bytes)", hint="drop a file with a header and rows")
    if gzipped:
        path = _gunzip(path, workdir)
    if fmt == "csv":
        return DropReader(path, fmt, _csv_header(path), batch_rows)
    if fmt == "parquet":
        try:
            names = tuple(pq.ParquetFile(path).schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(f"{path.name}: not a readable Parquet file: {_first_line(exc)}",
                              hint="write the file again; it may be truncated or not Parquet at all") from exc
        return DropReader(path, fmt, names, batch_rows)
    return DropReader(path, fmt, None, batch_rows)


def _gunzip(path: Path, workdir: Path) -> Path:
    # Streamed to disk so that a large gzipped drop never sits decompressed in memory.
    target = Path(tempfile.mkstemp(dir=workdir, suffix=".csv")[1])
    try:
        with gzip.open(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
    except (OSError, EOFError) as exc:
        raise IngestError(f"{path.name}: not a readable gzip file: {_first_line(exc)}",
                          hint="compress the file again with gzip") from exc
    if target.stat().st_size == 0:
        raise IngestError(f"{path.name}: file is empty once decompressed", hint="drop a file with a header and rows")
    return target


def _csv_header(path: Path) -> tuple[str, ...]:
    try:
        names = tuple(pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy").collect_schema().names())
    except pl.exceptions.PolarsError as exc:
        raise IngestError(f"{path.name}: no CSV header could be read: {_first_line(exc)}",
                          hint="the first line must name the columns, comma-separated") from exc
    if not names or names == ("",):
        raise IngestError(f"{path.name}: the CSV header is blank", hint="the first line must name the columns")
    return names


def mentions(path: Path, key_column: str, keys: Iterable[str]) -> bool:
    """Whether a drop (or a quarantined copy of one) holds any of ``keys``: for erasure.

    Parquet is compressed, so its ``key_column`` is read and compared; text drops (gzip ones
    decompressed) and any file that cannot be read that way are searched byte for byte, which
    finds an id wherever it stands and may also match it inside a longer one (erasure then does
    a little more, never less).
    """
    wanted = sorted({str(k) for k in keys})
    if not wanted:
        return False
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".pq")):
        try:
            found = pl.scan_parquet(path).select(pl.col(key_column).cast(pl.String).is_in(wanted).any()).collect()
            if found.item():
                return True
        except (pl.exceptions.PolarsError, OSError):
            pass  # unreadable or without the key column: searched as bytes below
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            pass  # a broken gzip is searched as it is
    return any(k.encode("utf-8") in data for k in wanted)
