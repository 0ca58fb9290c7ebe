"""Row validation of a drop against its feature-group contract.

:func:`check_header` decides whether a file can be ingested at all (every non-nullable column
present, no column the contract does not know unless it ignores them, no column twice; a
misspelt column is named with the declared one it most resembles); :func:`validate_batch` types one
batch of raw values and splits it into good rows, typed as stored, and bad rows, kept as the raw
strings they arrived as plus a ``_reason`` naming every problem ("sessions: -3 is below min 0").
Names driftline uses itself (``_line``, ``_parse_error``, ``_row``, ``_reason``, ``_ingested_at``,
``_source``) are refused in a drop's header. Rules, in the contract's terms: type, nullable,
min/max, allowed values, pattern; and always:
no NaN or infinity (send an empty value for "unknown"), no event time later than ``now`` plus a
small tolerance, strings no longer than ``Limits.max_string_bytes``, no undecodable bytes.
Timestamps are ISO-8601 as Python's ``datetime.fromisoformat`` reads them: a value with an offset
(``+02:00`` or ``Z``) is converted to UTC, a naive value is taken as UTC. Each value is read on
its own, so a file mixing offsets (or offsets and naive values) is accepted value by value; no
offset is ever guessed for a naive value. A column the contract marks nullable may be missing
from the file: it is stored as nulls (old drops stay valid after a column is added).
A column with ``parse`` reads numbers written for people before typing them (:func:`parse_human_number`:
"$1,234.50" as currency, "12.5%" as percent, stored as 12.5, "1,234" as thousands); a value of
another shape is quarantined as "<column>: not <dtype>". A ``generated = "row"`` column is the
row id of a table without an entity column: the sha256 of the row's other values as typed
(:func:`row_ids`), so the same row sent again, in any file or format, gets the same id and is
stored once (``keep_latest`` keeps one, ``reject`` quarantines the repeat), where an id from
the drop's digest and row number would store a re-sent row twice; two identical rows in one drop
are one row (the second is quarantined as a duplicate key). A drop carrying that column is refused.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
from polars.datatypes import DataType, DataTypeClass

from driftline.errors import IngestError
from features.contracts import ColumnSpec, FeatureGroupContract
from features.readers import PARSE_ERROR, RAW_LINE, RESERVED_COLUMNS, ROW

REASON = "_reason"
INGESTED_AT = "_ingested_at"
SOURCE = "_source"
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
# How a bool column may be spelt in a drop (lowercased); predict reads a file's bools the same way.
BOOL_SPELLINGS: dict[str, bool] = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
# Shapes of numbers written for people; anything else does not parse (and is quarantined).
_SYMBOL = r"[$€£¥₹]"
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
HUMAN_NUMBER = {
    "currency": re.compile(rf"^(?:[-+]?{_SYMBOL}?|{_SYMBOL}[-+])\s?{_DIGITS}(?:\s?{_SYMBOL})?$"),
    "percent": re.compile(rf"^[-+]?{_DIGITS}\s?%$|^[-+]?{_DIGITS}$"),
    "thousands": re.compile(rf"^[-+]?{_DIGITS}$"),
}
_ARROW = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
          "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32()}
_POLARS: dict[str, DataTypeClass | DataType] = {
    "int64": pl.Int64, "float64": pl.Float64, "string": pl.String, "bool": pl.Boolean,
    "timestamp": pl.Datetime("us", "UTC"), "date": pl.Date}


@dataclass(frozen=True)
class Limits:
    """Rules that hold for every group: how far in the future an event may lie, how long a string."""

    future_tolerance: timedelta = timedelta(minutes=5)
    max_string_bytes: int = 65_536


# The defaults as one shared value (frozen, so sharing it as a default argument is safe).
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class BatchResult:
    """One validated batch: ``good`` typed as stored (plus ``_row``), ``bad`` raw strings plus
    ``_row`` and ``_reason``; ``reasons`` counts rows per kind of problem (a row with two problems
    counts under both). ``good.height + bad.height`` equals the batch's height."""

    good: pl.DataFrame
    bad: pl.DataFrame
    reasons: Mapping[str, int]


def stored_schema(contract: FeatureGroupContract) -> pa.Schema:
    """The Arrow schema of a group's stored rows: its columns, then ``_ingested_at`` and ``_source``."""
    fields = [pa.field(c.name, _ARROW[c.dtype]) for c in contract.columns]
    return pa.schema([*fields, pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC")), pa.field(SOURCE, pa.string())])


class KeyIndex:
    """Keys seen (64-bit hashes of entity keys and event time) with the row each came first in, as
    sorted runs merged like a binary counter: O(n log n) for a file however it is batched. Two keys
    sharing a hash would pass for one (at 10M keys in a file, a chance of about 3 in a million)."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, hashes: np.ndarray, rows: np.ndarray, order: np.ndarray | None = None) -> None:
        """Remember keys (not seen before) and their rows; ``order`` is ``np.argsort(hashes)`` if known."""
        if not len(hashes):  # an empty run would break lookups
            return
        order = np.argsort(hashes) if order is None else order
        self._runs.append((hashes[order], rows[order]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (h2, r2), (h1, r1) = self._runs.pop(), self._runs.pop()
            merged = np.concatenate([h1, h2])
            order = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge
            self._runs.append((merged[order], np.concatenate([r1, r2])[order]))

    def merge(self, other: KeyIndex) -> None:
        for hashes, rows in other._runs:
            self.add(hashes, rows)

    def lookup(self, hashes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """The row each key came first in, or 0 when it was not seen."""
        found = np.zeros(len(hashes), dtype=np.int64)
        if not self._runs or not len(hashes):
            return found
        order = np.argsort(hashes) if order is None else order  # sorted queries: few cache misses
        queries = hashes[order]
        for run, rows in self._runs:
            at = np.minimum(np.searchsorted(run, queries), len(run) - 1)
            hit = (run[at] == queries) & (found[order] == 0)
            found[order[hit]] = rows[at[hit]]
        return found


def key_hashes(frame: pl.DataFrame, contract: FeatureGroupContract) -> np.ndarray:
    """A 64-bit hash per row of its entity keys and event time, typed as stored: alike whether read
    from a drop or from the store (same dtypes, same process)."""
    # hash_rows combines the columns' own hashes: a quarter of the time of hashing them as a struct.
    return frame.select([*contract.entity_keys, contract.event_time]).hash_rows(seed=7).to_numpy()


def parse_human_number(text: pl.Series, parse: str) -> pl.Series:
    """``text`` (stripped strings) with the currency symbols, thousands separators or percent sign of
    ``parse`` removed where the value has that shape; a value of another shape becomes null, so the
    cast that follows fails it and the row is quarantined naming the column."""
    shaped = text.str.contains(HUMAN_NUMBER[parse].pattern)
    plain = text.str.replace_all(rf"{_SYMBOL}|,|%|\s", "")
    return pl.select(pl.when(shaped).then(plain)).to_series().alias(text.name)


def row_ids(typed: Sequence[pl.Series], height: int) -> pl.Series:
    """One id per row: the first 32 hex digits of the sha256 over the row's values as typed, each
    written as its length and text (so no two rows' values can run together), null as ``-``.
    Temporal values are hashed as integers since the epoch, not as formatted text."""
    parts: list[pl.Expr] = []
    for series in typed:
        value = series.cast(pl.Int64) if series.dtype.is_temporal() else series
        text = pl.lit(value).cast(pl.String)
        parts.append(pl.when(text.is_null()).then(pl.lit("-"))
                     .otherwise(text.str.len_bytes().cast(pl.String) + pl.lit(":") + text))
    if not parts:
        return pl.Series([""] * height, dtype=pl.String)
    keys = pl.select(pl.concat_str(parts, separator="|")).to_series() if height else pl.Series([], dtype=pl.String)
    return pl.Series([hashlib.sha256(k.encode("utf-8")).hexdigest()[:32] for k in keys.to_list()], dtype=pl.String)


def check_header(columns: Sequence[str], contract: FeatureGroupContract, *, file: str) -> tuple[str, ...]:
    """Raise IngestError when the file's columns cannot fit the contract, naming the columns and,
    for a misspelt one, the declared name it is closest to; return the undeclared columns the
    contract ignores (``undeclared = "ignore"``; none when it refuses them).

    ``columns`` are the drop's own (for JSON Lines, a batch's columns less the reader's): a name
    driftline gives a meaning to (``_line`` switches rules off, ``_parse_error`` is a reason, ...)
    is refused whole, before any row is looked at, whatever the contract says of undeclared columns."""
    reserved = sorted(set(columns) & RESERVED_COLUMNS)
    if reserved:
        raise IngestError(f"{file}: column(s) {', '.join(reserved)} are reserved for driftline's own use",
                          hint=f"rename the column(s); reserved names: {', '.join(sorted(RESERVED_COLUMNS))}")
    twice = sorted({c.split("_duplicated_")[0] for c in columns if "_duplicated_" in c})
    if twice:
        raise IngestError(f"{file}: column(s) {', '.join(twice)} appear more than once in the header",
                          hint="name each column once")
    present = set(columns)
    carried = sorted(present & set(contract.generated_columns))
    if carried:
        raise IngestError(f"{file}: column(s) {', '.join(carried)} are generated by driftline (the row id of "
                          f"group {contract.name!r}); a drop may not carry them",
                          hint="drop the column(s) from the file, or make the contract's entity key a real column")
    extra = [c for c in columns if c not in contract.column_names]
    missing = [c.name for c in contract.columns if not c.nullable and not c.generated and c.name not in present]
    if missing:
        hint = f"add the column(s) to the file; group {contract.name!r} requires {', '.join(contract.column_names)}"
        renames = _likely_renames(missing, extra)
        if renames:
            hint = f"rename {renames} in the file's header, or add the missing column(s)"
        if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|")):
            hint = f"the header reads as one column {columns[0][:80]!r}: drops must be comma-separated"
        raise IngestError(f"{file}: required column(s) {', '.join(missing)} missing", hint=hint)
    if extra and contract.undeclared == "ignore":
        return tuple(extra)
    if extra:
        renames = _likely_renames([c for c in contract.column_names if c not in present], extra)
        raise IngestError(f"{file}: column(s) {', '.join(extra)} not in the contract of group {contract.name!r}",
                          hint=(f"rename {renames} in the file's header, or " if renames else "")
                          + "drop the column(s) from the file, add them to the contract as nullable columns, "
                            'or set undeclared = "ignore" in the contract')
    return ()


def _likely_renames(wanted: Sequence[str], found: Sequence[str]) -> str:
    """``'customer' to 'customer_id'``: the file's columns that look like misspellings of declared ones."""
    pairs = []
    for name in wanted:
        close = difflib.get_close_matches(name, found, n=1, cutoff=0.6) or \
            [f for f in found if f.lower().replace("-", "_").replace(" ", "_") == name.lower()]
        if close:
            pairs.append(f"{close[0]!r} to {name!r}")
    return ", ".join(pairs)


def _parse_temporal(text: pl.Series, dtype: str) -> pl.Series:
    # Parsed per distinct value: drops repeat their timestamps a lot, and fromisoformat is exact ISO.
    uniques = text.drop_nulls().unique()
    parsed: list[datetime | date | None] = []
    for value in uniques.to_list():
        try:
            if dtype == "date":
                parsed.append(date.fromisoformat(value.strip()))
            else:
                moment = datetime.fromisoformat(value.strip())
                parsed.append(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC))
        except ValueError:
            parsed.append(None)
    target = _POLARS[dtype]
    return text.replace_strict(uniques, pl.Series(parsed, dtype=target), default=None, return_dtype=target)


def _typed(raw: pl.Series, spec: ColumnSpec) -> pl.Series:
    """The column in its contract type; a value that does not convert becomes null (then flagged)."""
    target, kind = _POLARS[spec.dtype], raw.dtype
    if kind.is_nested():
        return pl.Series(raw.name, [None] * raw.len(), dtype=target)
    if spec.dtype == "timestamp" and isinstance(kind, pl.Datetime):
        utc = raw.dt.replace_time_zone("UTC") if kind.time_zone is None else raw.dt.convert_time_zone("UTC")
        return utc.dt.cast_time_unit("us")
    if spec.dtype == "timestamp" and kind == pl.Date:
        return raw.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if spec.dtype in ("date", "bool", "string") and kind == _POLARS[spec.dtype]:
        return raw
    if (spec.dtype == "int64" and kind.is_integer()) or (spec.dtype == "float64" and kind.is_numeric()):
        return raw.cast(target, strict=False)
    if spec.dtype == "int64" and kind.is_float():
        # Writers such as pandas store integer columns holding nulls as floats; 3.0 is 3, 3.5 is no int.
        whole = raw.is_finite() & (raw == raw.floor())
        return pl.select(pl.when(whole).then(raw.cast(pl.Int64, strict=False))).to_series().alias(raw.name)
    text = raw.cast(pl.String, strict=False)
    if spec.dtype == "string":
        return text
    if spec.dtype in ("timestamp", "date"):
        return _parse_temporal(text, spec.dtype)
    stripped = text.str.strip_chars()
    if spec.parse is not None:
        stripped = parse_human_number(stripped, spec.parse)
    if spec.dtype == "bool":
        lowered = stripped.str.to_lowercase()
        return lowered.replace_strict([*_TRUE, *_FALSE], [True] * len(_TRUE) + [False] * len(_FALSE),
                                      default=None, return_dtype=pl.Boolean)
    return stripped.cast(target, strict=False)


def _as_text(raw: pl.Series) -> pl.Series:
    if raw.dtype.is_nested():
        return pl.Series(raw.name, [None if v is None else json.dumps(v, default=str) for v in raw.to_list()],
                         dtype=pl.String)
    return raw.cast(pl.String, strict=False)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class _MoreNulls(NamedTuple):
    """A probe read from null counts alone, which columns keep with them: does column ``more``
    hold more nulls than column ``than`` (None: than none)? Answered without a query."""

    more: str
    than: str | None = None


class _Rule(NamedTuple):
    """One rule of one column: ``mask`` flags the rows that break it, ``detail`` says how (only ever
    evaluated on those rows), ``probe`` answers "may any row break it?" for a whole batch."""

    kind: str
    mask: pl.Expr
    detail: pl.Expr
    probe: pl.Expr | _MoreNulls | None = None  # None: mask.any()


def _one_of(text: pl.Expr, allowed: Sequence[str]) -> pl.Expr:
    """Whether each value is one of ``allowed`` (null stays null). A few values are compared one by one:
    about three times faster than ``is_in``'s hash lookup on short lists, the usual allowed-values list."""
    if not allowed or len(allowed) > 8:
        return text.is_in(list(allowed))
    return functools.reduce(lambda either, value: either | (text == value), allowed[1:], text == allowed[0])


def _column_rules(spec: ColumnSpec, raw_dtype: pl.DataType, now: datetime, limits: Limits,
                  is_event_time: bool) -> tuple[_Rule, ...]:
    """The rules of one column. Masks read ``raw:<name>`` as it arrived (any dtype) and ``<name>``
    typed; details are only evaluated on bad rows, with ``raw:<name>`` turned into text by then, so
    good rows are never converted to strings. Probes that can, read a column's null count (kept
    with the column) or one aggregate instead of a mask per row; they may say yes where no row
    breaks the rule (an infinity below min, say): the masks then give the exact rows."""
    c, r, t = spec.name, pl.col(f"raw:{spec.name}"), pl.col(spec.name)
    quoted = pl.lit(f"{c}: '") + r.str.slice(0, 60) + pl.lit("'")
    shown = quoted if spec.dtype == "string" else pl.lit(f"{c}: ") + r.str.strip_chars().str.slice(0, 60)
    finite = t.is_finite() if spec.dtype == "float64" else pl.lit(True)
    textual = raw_dtype == pl.String
    blank = r.is_null() | ((r.str.strip_chars() == "") if textual and spec.dtype != "string" else pl.lit(False))
    if raw_dtype.is_nested():
        return (_Rule(f"{c}: nested value", r.is_not_null(), pl.lit(f"{c}: nested value is not a scalar")),)
    out: list[_Rule] = []
    if textual:
        # U+FFFD is searched for in the column's values joined into one string: a few times faster.
        out.append(_Rule(f"{c}: not valid UTF-8", r.str.contains("\ufffd", literal=True),
                         pl.lit(f"{c}: value holds bytes that are not UTF-8"),
                         r.str.join("", ignore_nulls=True).str.contains("\ufffd", literal=True)))
    if not spec.nullable:
        out.append(_Rule(f"{c}: missing", blank, pl.lit(f"{c}: missing but the column is not nullable"),
                         None if textual else _MoreNulls(f"raw:{c}")))
    if raw_dtype != _POLARS[spec.dtype]:  # else the value is stored as it came: it cannot fail to convert
        shape = f" ({spec.parse} amount)" if spec.parse else ""
        out.append(_Rule(f"{c}: not {spec.dtype}", ~blank & t.is_null(),
                         quoted + pl.lit(f" is not a valid {spec.dtype}{shape}"),
                         None if textual else _MoreNulls(c, f"raw:{c}")))
    if spec.dtype == "float64":
        # A NaN or an infinity makes the sum one (so may finite values that overflow: the mask then decides).
        out.append(_Rule(f"{c}: not finite", ~finite, shown + pl.lit(" is not a finite number"), ~t.sum().is_finite()))
    if spec.min is not None and spec.dtype in ("int64", "float64"):
        out.append(_Rule(f"{c}: below min {_number(spec.min)}", finite & (t < spec.min),
                         shown + pl.lit(f" is below min {_number(spec.min)}"), t.min() < spec.min))
    if spec.max is not None and spec.dtype in ("int64", "float64"):
        out.append(_Rule(f"{c}: above max {_number(spec.max)}", finite & (t > spec.max),
                         shown + pl.lit(f" is above max {_number(spec.max)}"), t.max() > spec.max))
    if spec.allowed is not None:
        text = t if spec.dtype == "string" else t.cast(pl.String)
        out.append(_Rule(f"{c}: not allowed", ~_one_of(text, spec.allowed),
                         shown + pl.lit(f" is not one of {', '.join(spec.allowed)}")))
    if spec.pattern is not None and spec.dtype == "string":
        out.append(_Rule(f"{c}: pattern", ~t.str.contains(spec.pattern),
                         shown + pl.lit(f" does not match pattern {spec.pattern}")))
    if spec.dtype == "string":
        out.append(_Rule(f"{c}: too long", t.str.len_bytes() > limits.max_string_bytes,
                         pl.lit(f"{c}: string of ") + t.str.len_bytes().cast(pl.String)
                         + pl.lit(f" bytes exceeds the {limits.max_string_bytes}-byte limit"),
                         t.str.len_bytes().max() > limits.max_string_bytes))
    if is_event_time:
        latest = pl.lit((now + limits.future_tolerance) if spec.dtype == "timestamp" else now.date(),
                        dtype=_POLARS[spec.dtype])
        out.append(_Rule(f"{c}: in the future", t > latest,
                         shown + pl.lit(f" is in the future (now is {now.isoformat()})"), t.max() > latest))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _rules(contract: FeatureGroupContract, dtypes: tuple[pl.DataType, ...], now: datetime, limits: Limits,
           parse_errors: bool, raw_lines: bool, replaced_bytes: bool) -> tuple[tuple[_Rule, ...],
                                                                             tuple[pl.Expr, ...]]:
    """Every rule of a batch layout, with null-safe masks, and the probes that need a query as one
    selection (named by rule index). Cached: a drop's batches share a layout, and building
    expressions costs as much as checking 50k rows."""
    rules = [rule for spec, dtype in zip(contract.columns, dtypes, strict=True)
             for rule in _column_rules(spec, dtype, now, limits, spec.name == contract.event_time)
             if replaced_bytes or not rule.kind.endswith(": not valid UTF-8")]
    if parse_errors:
        rules.insert(0, _Rule("", pl.col(PARSE_ERROR).is_not_null(), pl.col(PARSE_ERROR)))
    # A line that is no JSON object has no values: its only reason is the parse error.
    broken = pl.col(RAW_LINE).is_not_null() if raw_lines else pl.lit(False)
    rules = [rule._replace(mask=(rule.mask.fill_null(False) & ~broken) if rule.kind else rule.mask.fill_null(False))
             for rule in rules]
    probes = tuple((rule.mask.any() if rule.probe is None else rule.probe.fill_null(False)).alias(str(i))
                   for i, rule in enumerate(rules) if not isinstance(rule.probe, _MoreNulls))
    return tuple(rules), probes


def _probe(work: pl.DataFrame, rules: Sequence[_Rule], probes: Sequence[pl.Expr]) -> list[bool]:
    """Per rule, whether any row of ``work`` may break it: null-count probes from the columns, the
    rest in one selection."""
    hits = work.select(probes).row(0, named=True) if probes else {}

    def more_nulls(probe: _MoreNulls) -> bool:
        return work[probe.more].null_count() > (0 if probe.than is None else work[probe.than].null_count())

    return [more_nulls(rule.probe) if isinstance(rule.probe, _MoreNulls) else bool(hits[str(i)])
            for i, rule in enumerate(rules)]


def validate_batch(batch: pl.DataFrame, contract: FeatureGroupContract, *, now: datetime,
                   limits: Limits = Limits(), replaced_bytes: bool = True) -> BatchResult:
    """Type and check one batch of raw rows (``_row`` numbered) against the contract.

    ``replaced_bytes`` says whether the reader replaced undecodable bytes with U+FFFD: CSV and JSON
    Lines are decoded that way, so there the character marks a row to quarantine; Parquet strings
    are UTF-8 by the format (a file breaking that is rejected whole), so there it is a character.

    Vectorised: one pass probes every rule (mostly aggregates), a second marks the bad rows of the
    rules that may fire; only those (usually few) rows are flagged rule by rule, turned into text
    and given their reasons.
    """
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    typed: dict[str, tuple[pl.Series, pl.Series]] = {}
    for spec in contract.columns:
        if spec.generated:
            continue
        raw = batch[spec.name] if spec.name in batch.columns else \
            pl.repeat(None, batch.height, dtype=pl.String, eager=True).alias(spec.name)
        typed[spec.name] = (_typed(raw, spec).alias(spec.name), raw.alias(f"raw:{spec.name}"))
    for name in contract.generated_columns:  # a row id from the other values (see the module's docstring)
        ids = row_ids([t for t, _ in typed.values()], batch.height).alias(name)
        typed[name] = (ids, ids.alias(f"raw:{name}"))
    columns = [series for spec in contract.columns for series in typed[spec.name]]
    extra = [c for c in (ROW, PARSE_ERROR, RAW_LINE) if c in batch.columns]
    work = pl.DataFrame([*columns, *(batch[c] for c in extra)])
    rules, probes = _rules(contract, tuple(work[f"raw:{n}"].dtype for n in contract.column_names),
                           now, limits, PARSE_ERROR in batch.columns, RAW_LINE in batch.columns, replaced_bytes)
    # First only probe each rule; then flag and count the rows of the rules that may fire (usually none).
    names = list(contract.column_names)
    fired = [i for i, maybe in enumerate(_probe(work, rules, probes)) if maybe]
    if not fired:
        return BatchResult(good=work.select([*names, ROW]), bad=pl.DataFrame(
            schema={**{n: pl.String for n in names}, ROW: pl.Int64, REASON: pl.String}), reasons={})
    # One pass over the batch for the rules that may fire; then only the bad rows are looked at.
    is_bad = work.select(pl.any_horizontal([rules[i].mask for i in fired])).to_series()
    flags = [f"_m{i}" for i in fired]
    bad = work.filter(is_bad).with_columns([rules[i].mask.alias(flag) for i, flag in zip(fired, flags, strict=True)])
    reasons: dict[str, int] = {}
    for i, count in zip(fired, bad.select([pl.col(f).sum() for f in flags]).row(0), strict=True):
        if rules[i].kind and count:
            reasons[rules[i].kind] = reasons.get(rules[i].kind, 0) + int(count)
    if PARSE_ERROR in bad.columns:
        kinds = bad[PARSE_ERROR].drop_nulls().str.split(":").list.first()
        for kind, count in kinds.value_counts().iter_rows():
            reasons[kind] = reasons.get(kind, 0) + int(count)
    bad = bad.with_columns([_as_text(bad[f"raw:{n}"]) for n in names])
    details = [pl.when(pl.col(flag)).then(rules[i].detail.fill_null(pl.lit(rules[i].kind or "unreadable row")))
               for i, flag in zip(fired, flags, strict=True)]
    bad = (bad.with_columns(pl.concat_str(details, separator="; ", ignore_nulls=True).alias(REASON))
           .select([*(f"raw:{n}" for n in names), *([RAW_LINE] if RAW_LINE in work.columns else []), ROW, REASON])
           .rename({f"raw:{n}": n for n in names}))
    return BatchResult(good=work.select([*names, ROW]).filter(~is_bad), bad=bad, reasons=reasons)
