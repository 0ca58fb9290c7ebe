"""From a request's columns to predictions: the checks, then exactly what ``predict`` computes.

Both protocols decode their body into named columns (lists of JSON values) and hand them here.
:func:`request_frame` builds a frame column by column (a column of mixed JSON values becomes text,
so the type check below names it rather than polars failing on the whole body); :func:`score`
then runs the checks of :func:`usecases.predict_file.typed_features` (a missing column, a value not
of the feature's type) plus those a file scored offline does not need: an unknown category (the
model would read it as missing, silently), a null or NaN in a column the feature group's contract
declares not nullable, and the row limit. The predictions are
:func:`usecases.predict_file.prediction_columns` on the typed frame, so a served row equals the row
``predict`` and ``score`` write, bit for bit. Every refusal is an :class:`InputError` naming the
column (HTTP 400), never an exception from polars or LightGBM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from driftline.errors import InputError
from serving.models import ServedModel
from training.schema import FeatureSchema
from usecases.predict_file import prediction_columns, typed_features


class RequestRefused(InputError):
    """A request the server will not take, with the HTTP status that says why (413, 415, 401...)."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass(frozen=True)
class Scored:
    """One request's rows as one served version scored them (``raw``: the model's float array)."""

    served: ServedModel
    inputs: pl.DataFrame
    outputs: pl.DataFrame
    raw: np.ndarray


def _nested(name: str) -> InputError:
    return InputError(f"column {name!r} holds a nested list or object; one plain value per row is expected",
                      hint=f"send one number, string, boolean or null per row in {name}")


def _column(name: str, values: Any) -> pl.Series:
    if not isinstance(values, list):
        raise InputError(f"column {name!r} is not a list of values (got {type(values).__name__})",
                         hint=f"send {name} as a list, one value per row")
    # polars reads the values first (a Python loop over 1,000 values per column was ~12% of a
    # 1,000-row request); lists and objects show as a nested type, or as an error when mixed.
    try:
        column = pl.Series(name, values)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        if any(isinstance(v, (list, dict)) for v in values):
            raise _nested(name) from None
        # Mixed JSON types (1 and "x"): as text, so typed_features names the first bad row.
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
    if column.dtype.is_nested():
        raise _nested(name)
    return column


def request_frame(columns: Mapping[str, Any], *, max_rows: int) -> pl.DataFrame:
    """The request's columns as one frame; InputError on unequal lengths, no rows or too many."""
    if not columns:
        raise InputError("the request holds no columns", hint="send one input (or key) per feature column")
    series = [_column(str(name), values) for name, values in columns.items()]
    lengths = {s.name: s.len() for s in series}
    if len(set(lengths.values())) > 1:
        raise InputError(f"the columns have different numbers of rows: {lengths}",
                         hint="send the same number of values in every column")
    rows = next(iter(lengths.values()))
    if rows == 0:
        raise InputError("the request holds no rows", hint="send at least one row")
    if rows > max_rows:
        raise RequestRefused(f"the request holds {rows} rows, over this server's limit of {max_rows}",
                             status=413, hint="split it into smaller batches, or raise --max-batch-rows")
    return pl.DataFrame(series)


def records_columns(records: Sequence[Any], what: str) -> dict[str, list[Any]]:
    """A list of row objects as named columns (a key missing from a row is null in it)."""
    if not all(isinstance(r, dict) for r in records):
        raise InputError(f"{what} must be a list of objects, one per row, keyed by column",
                         hint='e.g. [{"sessions": 3, "device": "mobile"}]')
    names = list(dict.fromkeys(k for r in records for k in r))
    return {n: [r.get(n) for r in records] for n in names}


def _first_hit(typed: pl.DataFrame, flags: Sequence[pl.Expr]) -> tuple[int, int] | None:
    """The first flag (in ``flags`` order) set in some row, and that row's index. One query for
    every flag: on the request path each polars call costs tens of microseconds."""
    if not flags:
        return None
    hits = typed.select([flag.any().alias(str(k)) for k, flag in enumerate(flags)]).row(0)
    for k, hit in enumerate(hits):
        if hit:
            return k, int(typed.select(flags[k].arg_max()).item() or 0)
    return None


def _check_flags(schema: FeatureSchema, required: tuple[str, ...],
                 floats: tuple[bool, ...]) -> tuple[list[pl.Expr], list[tuple[str, str]]]:
    """Each check as a flag expression, unknown categories first, then nulls where not allowed;
    with the (kind, column) each flag is about."""
    flags, about = [], []
    for name, known in schema.categories.items():
        flags.append(pl.col(name).is_not_null() & ~pl.col(name).is_in(list(known)))
        about.append(("category", name))
    for name, is_float in zip(required, floats, strict=True):
        flags.append((pl.col(name).is_null() | pl.col(name).is_nan().fill_null(False)) if is_float
                     else pl.col(name).is_null())
        about.append(("null", name))
    return flags, about


def _check(typed: pl.DataFrame, served: ServedModel, required: Sequence[str], what: str) -> None:
    """An unknown category (the model would read it as missing, silently), then a null or NaN in a
    column whose contract does not allow one: both checks in one query, built once per input shape."""
    schema = served.model.schema
    given = typed.schema
    needed = tuple(required)
    floats = tuple(given[name].is_float() for name in needed)
    flags, about = schema.memo(("serving.checks", needed, floats), lambda: _check_flags(schema, needed, floats))
    hit = _first_hit(typed, flags)
    if hit is None:
        return
    (kind, name), i = about[hit[0]], hit[1]
    if kind == "category":
        known = schema.categories[name]
        shown = ", ".join(repr(v) for v in known[:8]) + (" ..." if len(known) > 8 else "")
        raise InputError(f"column {name!r} row {i + 1}: {str(typed[name][i])[:40]!r} is a category {what} never "
                         f"saw in training (known: {shown})",
                         hint=f"send one of the known values of {name}; the model cannot score a new one")
    raise InputError(f"column {name!r} row {i + 1} is null or NaN; its contract does not allow missing "
                     f"values for {what}", hint=f"send a value of {name} in every row")


def score(served: ServedModel, frame: pl.DataFrame, *, required: Sequence[str] = (),
          threads: int | None = None) -> Scored:
    """``frame``'s rows checked against ``served``'s schema and scored (see the module doc); ``threads``
    LightGBM threads for this request (None: the model's own), the same numbers whatever the count."""
    what = f"{served.name} v{served.version}"
    schema = served.model.schema
    typed = typed_features(frame, schema, what)
    _check(typed, served, [c for c in required if c in schema.features], what)
    added = prediction_columns(served.model, typed, served.threshold, threads=threads)
    raw = np.asarray(added[0].to_numpy() if served.model.task != "multiclass"
                     else np.column_stack([s.to_numpy() for s in added[1:]]), dtype=float)
    # Frames from the columns as they are: a select would be one more polars query per request.
    inputs = pl.DataFrame([typed.get_column(name) for name in schema.features])
    return Scored(served=served, inputs=inputs, outputs=pl.DataFrame(added), raw=raw)


def plain(values: np.ndarray) -> list[Any]:
    """A numpy array as JSON-ready Python values (orjson writes a NaN as null: JSON has no NaN)."""
    listed: list[Any] = values.tolist()
    return listed
