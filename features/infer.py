"""Contracts from data: a sample of a table in, a feature-group contract and its reasons out.

:func:`infer_contract` reads the first rows (:data:`SAMPLE_ROWS`) of a drop, or of every drop in a
folder, through the same guarded readers ingestion uses (no link followed, bounded sizes), and
proposes a :class:`~features.contracts.FeatureGroupContract` for a person to review: types,
nullability, ranges widened by :data:`MARGIN` of the observed span (a column never below zero
stays so), ``allowed`` values and ``categorical`` for strings with few distinct values,
``pii = "mask"`` for suspects (``features.pii_suspects``; set, not suggested, so an unreviewed
suspect never leaves an export in clear), ``parse`` for numbers written for people when every
sampled value reads so (else the column stays a string, and says why), the task from the label.
Everything it chose and everything it is unsure of comes back in the :class:`Inference`; nothing
is written here (the CLI writes). A sample is not the data: every range and list is a guess.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl

from driftline.errors import InputError
from features.contracts import ColumnSpec, FeatureGroupContract
from features.drop_guard import open_drop_file
from features.pii_suspects import PiiSuspect, suspect
from features.readers import PARSE_ERROR, RAW_LINE, ROW, format_of, open_drop
from features.validation import HUMAN_NUMBER, parse_human_number

SAMPLE_ROWS = 10_000
MARGIN = 0.1
MAX_ALLOWED = 20  # a string column with at most this many distinct values is categorical
ROW_ENTITY = "@row"
_INT = re.compile(r"^[-+]?\d{1,18}$")
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_BOOL = {"true", "false", "yes", "no", "t", "f", "y", "n"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Inference:
    """A proposed contract and its reasons: ``notes`` per column (written as comments above it),
    ``pii`` suspects, ``parsed`` choices on numeric-looking text, the ``task_note``, and ``doubts``."""

    contract: FeatureGroupContract
    files: tuple[str, ...]
    rows_sampled: int
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pii: tuple[PiiSuspect, ...] = ()
    parsed: tuple[str, ...] = ()
    task_note: str | None = None
    doubts: tuple[str, ...] = ()


def drop_files_of(data: Path) -> list[Path]:
    """The drop itself, or a folder's drops (its files of a known format, by name; not recursive)."""
    data = Path(data)
    if not data.exists():
        raise InputError(f"{data} does not exist", hint="give a CSV, CSV.gz, Parquet or JSON Lines file, or a folder")
    if not data.is_dir():
        format_of(data)  # names the supported formats when it is none of them
        return [data]
    files = []
    for path in sorted(data.iterdir()):
        try:
            format_of(path)
        except Exception:  # noqa: BLE001 - a file of another kind in the folder is skipped, not an error
            continue
        if path.is_file() and not path.is_symlink():
            files.append(path)
    if not files:
        raise InputError(f"{data} holds no .csv, .csv.gz, .parquet or .jsonl file",
                         hint="point at a data file or a folder of them")
    return files


def read_sample(files: list[Path], rows: int = SAMPLE_ROWS) -> tuple[pl.DataFrame, set[str], int]:
    """The first ``rows`` rows over ``files`` (raw), the columns read as text, and rows unreadable."""
    frames, textual, broken, taken = [], set(), 0, 0
    with tempfile.TemporaryDirectory(prefix="driftline-infer-") as work:
        for path in files:
            if taken >= rows:
                break
            with open_drop_file(path) as handle:
                drop = open_drop(handle, Path(work), batch_rows=min(rows, 50_000), name=path.name)
                for batch in drop.batches():
                    if PARSE_ERROR in batch.columns:
                        broken += int(batch[PARSE_ERROR].is_not_null().sum())
                        batch = batch.filter(pl.col(PARSE_ERROR).is_null())
                    batch = batch.drop([c for c in (ROW, PARSE_ERROR, RAW_LINE) if c in batch.columns])
                    batch = batch.head(rows - taken)
                    textual |= {c for c, t in batch.schema.items() if t == pl.String}
                    frames.append(batch)
                    taken += batch.height
                    if taken >= rows:
                        break
    if not frames:
        raise InputError(f"{', '.join(p.name for p in files)}: no rows to infer from", hint="give a file with rows")
    return pl.concat(frames, how="diagonal_relaxed"), textual, broken


def _temporal(values: list[str]) -> str | None:
    kinds = set()
    for value in set(values):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                date.fromisoformat(value)
                kinds.add("date")
            else:
                datetime.fromisoformat(value)
                kinds.add("timestamp")
        except ValueError:
            return None
    return "date" if kinds == {"date"} else "timestamp"


def _human(name: str, values: list[str]) -> tuple[str | None, str | None]:
    """(parse, note) for numeric-looking text: a parse when every value reads so, else a note why not."""
    for parse, mark in (("percent", "%"), ("currency", None), ("thousands", ",")):
        marked = [v for v in values if (re.search(r"[$€£¥₹]", v) if mark is None else mark in v)]
        if not marked:
            continue
        misfits = [v for v in values if not HUMAN_NUMBER[parse].match(v)]
        if not misfits:
            stored = parse_human_number(pl.Series([marked[0]]), parse).cast(pl.Float64).item()
            extra = ", not as a fraction" if parse == "percent" else ""
            return parse, (f"{name}: parsed as {parse}, declared parse = \"{parse}\" "
                           f"({marked[0]!r} is stored as {stored:g}{extra})")
        if len(marked) >= len(values) / 2:
            return None, (f"{name}: left as a string: {len(misfits)} of {len(values)} sampled values do not read "
                          f"as {parse} (e.g. {misfits[0]!r})")
    return None, None


@dataclass
class _Column:
    dtype: str = "string"
    parse: str | None = None
    values: list[str] = field(default_factory=list)
    numbers: pl.Series | None = None
    notes: list[str] = field(default_factory=list)


def _read_column(name: str, series: pl.Series, parsed: list[str]) -> _Column:
    kind = series.dtype
    if kind.is_integer() or kind.is_float():
        return _Column("int64" if kind.is_integer() else "float64", numbers=series.drop_nulls().cast(pl.Float64),
                       values=[str(v) for v in series.drop_nulls().to_list()])
    if kind == pl.Boolean:
        return _Column("bool")
    if isinstance(kind, pl.Datetime) or kind == pl.Date:
        return _Column("timestamp" if isinstance(kind, pl.Datetime) else "date")
    text = series.cast(pl.String, strict=False).str.strip_chars()
    values = [v for v in text.to_list() if v]
    column = _Column(values=values)
    if not values:
        column.notes.append("no value in the sample: typed string; review")
    elif all(v.lower() in _BOOL for v in values):
        column.dtype = "bool"
    elif all(_INT.match(v) for v in values):
        column.dtype, column.numbers = "int64", pl.Series(values).cast(pl.Float64)
    elif all(_FLOAT.match(v) for v in values):
        column.dtype, column.numbers = "float64", pl.Series(values).cast(pl.Float64)
    elif (when := _temporal(values)) is not None:
        column.dtype = when
    else:
        parse, note = _human(name, values)
        if note:
            parsed.append(note)
            column.notes.append(note.split(": ", 1)[1])
        if parse:
            numbers = parse_human_number(pl.Series(values), parse).cast(pl.Float64)
            whole = parse == "thousands" and bool((numbers == numbers.floor()).all())
            column.dtype, column.parse, column.numbers = ("int64" if whole else "float64"), parse, numbers
    return column


def _extremes(numbers: pl.Series) -> tuple[float, float]:
    """The smallest and largest value of a non-empty Float64 column without nulls."""
    low, high = numbers.min(), numbers.max()
    assert isinstance(low, float) and isinstance(high, float)  # Float64, nulls dropped: never None
    return low, high


def _widen(low: float, high: float, integer: bool) -> tuple[float, float, str]:
    margin = MARGIN * ((high - low) if high > low else max(abs(high), 1.0))
    lo, hi = low - margin, high + margin
    if low >= 0:
        lo = max(lo, 0.0)  # a count or an amount seen never negative is not allowed to become so
    if integer:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    else:  # rounded outward to a tenth of the margin's order, so the bounds read well and only widen
        exponent = math.floor(math.log10(margin)) - 1
        scale = 10.0 ** exponent
        lo, hi = math.floor(lo / scale) * scale, math.ceil(hi / scale) * scale
        digits = max(0, -exponent)
        lo, hi = min(round(lo, digits), lo), max(round(hi, digits), hi)
    return lo, hi, f"observed {low:g}..{high:g} in the sample, widened by {MARGIN:.0%}"


def _guess_task(label: str, series: pl.Series, dtype: str) -> tuple[str, str]:
    values = sorted({str(v).strip() for v in series.drop_nulls().to_list()} - {""})
    shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
    if len(values) == 2 or dtype == "bool":
        task = "binary"
    elif dtype in ("int64", "string") and len(values) <= MAX_ALLOWED:
        task = "multiclass"
    else:
        task = "regression"
    positive_note = ""
    if task == "binary" and len(values) == 2:
        # The rule training applies (training.schema.binary_classes): 1/true, else the second in order.
        ordered = sorted(values, key=int) if dtype == "int64" else values
        positive = "1" if values == ["0", "1"] else "true" if dtype == "bool" else str(ordered[1])
        positive_note = f"; class 1 (positive) is {positive!r} unless train --positive VALUE names the other"
    why = {"binary": "two values", "multiclass": f"{len(values)} {'integer' if dtype == 'int64' else 'string'} values",
           "regression": f"{len(values)} distinct {dtype} values"}[task]
    return task, (f"task: {task} (the label {label!r} has {why}: {shown}); "
                  f"override with --task binary|multiclass|regression{positive_note}")


def _refuse_without_time(frame: pl.DataFrame) -> InputError:
    candidates = [c for c in frame.columns
                  if _temporal([v for v in frame[c].cast(pl.String, strict=False).drop_nulls().to_list() if v.strip()]
                               or ["x"]) is not None or frame[c].dtype.is_temporal()]
    where = f"; columns that read as times: {', '.join(candidates)}" if candidates else ""
    return InputError("no time column: point-in-time correctness needs one (a training row may only see "
                      f"feature values known at its own time){where}",
                      hint="name it with --time COL, or add an event-time column (ISO-8601) to the data")


def infer_contract(data: Path, *, group: str, entity: list[str], time: str | None, label: str | None = None,
                   task: str | None = None, rows: int = SAMPLE_ROWS) -> Inference:
    """Propose a contract for ``data`` (a drop or a folder of drops); InputError on a missing or
    unsuitable column, naming it and the columns there are."""
    if not _IDENT.match(group):
        raise InputError(f"group name {group!r} is not an identifier", hint="use letters, digits and underscores")
    files = drop_files_of(data)
    frame, textual, broken = read_sample(files, rows)
    bad_names = [c for c in frame.columns if not _IDENT.match(c)]
    if bad_names:
        raise InputError(f"column name(s) {', '.join(map(repr, bad_names))} are not identifiers",
                         hint="rename them in the data (letters, digits, underscores): drops must carry the same names")
    if time is None:
        raise _refuse_without_time(frame)
    row_id = entity == [ROW_ENTITY]
    wanted = [time, *([] if row_id else entity), *([label] if label else [])]
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise InputError(f"column(s) {', '.join(missing)} not in the data", hint=f"columns: {', '.join(frame.columns)}")
    if ROW_ENTITY in entity and not row_id:
        raise InputError("--entity @row stands alone", hint="give --entity @row, or real columns only")
    doubts = [f"{broken} unreadable row(s) in the sample were skipped"] if broken else []
    parsed: list[str] = []
    notes: dict[str, tuple[str, ...]] = {}
    columns: list[ColumnSpec] = []
    pii: list[PiiSuspect] = []
    keys = entity if not row_id else [("row_id" if "row_id" not in frame.columns else "_row_id")]
    if row_id:
        columns.append(ColumnSpec(keys[0], "string", nullable=False, generated="row",
                                  description="Row id generated at ingestion from the row's content."))
        notes[keys[0]] = ("generated (--entity @row): the sha256 of the row's values, so a re-sent row is stored once",)
    for name in frame.columns:
        series = frame[name]
        col = _read_column(name, series, parsed)
        blank = series.null_count() + (series.cast(pl.String, strict=False).str.strip_chars() == "").sum()
        key = name in keys or name == time
        spec: dict[str, object] = {"nullable": bool(blank) and not key}
        if key and blank:
            doubts.append(f"{name}: {blank} sampled row(s) have no value; as a key column they will be quarantined")
        if name == time and col.dtype not in ("timestamp", "date"):
            example = next(iter(col.values), "")
            raise InputError(f"time column {name!r} does not read as a timestamp or date (e.g. {example!r})",
                             hint="use ISO-8601 values (2024-05-01T12:00:00Z), or name another column with --time")
        if col.numbers is not None and len(col.numbers) and name == label and col.dtype == "int64":
            low, high = _extremes(col.numbers)
            spec.update(min=low, max=high)  # classes: not widened
            col.notes.append("the label's observed classes, not widened")
        elif col.numbers is not None and len(col.numbers) and not key:
            lo, hi, why = _widen(*_extremes(col.numbers), col.dtype == "int64")
            spec.update(min=lo, max=hi)
            col.notes.append(why)
        found = suspect(name, col.values, textual=name in textual and col.dtype == "string")
        if found is not None:
            pii.append(found)
            # Set, not merely suggested: an untagged suspect would leave an export in clear. "mask"
            # hides the value and joins on nothing; the reviewer may choose "hash" (joinable) or "drop".
            spec["pii"] = "mask"
            col.notes.append(f"pii: {found.why}")
            col.notes.append('pii = "mask" in exports; "hash" keeps it joinable, "drop" leaves it out')
        distinct = len(set(col.values))
        if (col.dtype == "string" and not key and found is None and 0 < distinct <= MAX_ALLOWED
                and len(col.values) >= 2 * distinct):
            spec.update(allowed=tuple(sorted(set(col.values))), categorical=True)
            col.notes.append(f"allowed: the {distinct} values seen in the sample; a new value is quarantined")
        elif col.dtype == "string" and not key and found is None and distinct <= MAX_ALLOWED and col.values:
            doubts.append(f"{name}: {distinct} distinct values in {len(col.values)} sampled rows: too few rows "
                          "to tell a category from free values; left open")
        columns.append(ColumnSpec(name, col.dtype, parse=col.parse, **spec))  # type: ignore[arg-type]
        if col.notes:
            notes[name] = tuple(col.notes)
    task_note = None
    if label is not None:
        guessed, task_note = _guess_task(label, frame[label], next(c.dtype for c in columns if c.name == label))
        if task is None:
            task = guessed
        elif task != guessed:
            task_note = f"task: {task} as given (the sample suggests {guessed})"
            doubts.append(f"--task {task} but the label {label!r} looks {guessed} in the sample")
    repeats = frame.select([*entity, time]).is_duplicated().sum() if not row_id else 0
    duplicates_note = ("keep_latest: a row re-stating a key and time replaces the earlier one" if not repeats else
                       f"keep_latest; {repeats} sampled rows repeat a key and time: inside one drop the later is "
                       "quarantined")
    if repeats:
        doubts.append(f"{repeats} sampled rows share their {', '.join([*entity, time])}: check the entity key")
    contract = FeatureGroupContract(
        name=group, version=1, entity_keys=tuple(keys), event_time=time, columns=tuple(columns),
        duplicates="keep_latest", label=label, task=task,  # type: ignore[arg-type]
        description=f"Inferred from {Path(data).name}; review before committing.")
    notes["@duplicates"] = (duplicates_note,)
    if len(frame) < 100:
        doubts.append(f"only {len(frame)} rows sampled: ranges, nullability and allowed values are thin guesses")
    return Inference(contract, tuple(p.name for p in files), frame.height, notes, tuple(pii), tuple(parsed),
                     task_note, tuple(doubts))
