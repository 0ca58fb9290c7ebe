"""The predict use case: a verified model scores a file of rows as they are (``mlflow models predict``).

:func:`predict_file` reads CSV, CSV.gz, Parquet or JSON Lines through the landing readers (the same
size limits, no globbing, no links followed), checks every feature the model was trained on against
its schema (:class:`training.schema.FeatureSchema`) and refuses, in one line naming the column (and
the row), a missing column or a value that is not of the feature's type, before anything is
written. The input's columns are kept as they are and the predictions appended: ``score``
(P(class 1)) and, given a threshold, ``decision`` for a binary model (and ``predicted_class``, the
label value the decision names, when the label is not 0/1, e.g. yes/no); ``predicted_class`` and one
``proba_<class>`` per class for a multiclass one; ``prediction`` for a regression one. The output is
CSV or Parquet by its suffix and written atomically (kill points ``predict.staged`` and
``predict.replaced``): a killed run leaves the old file or none, never half a file.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from driftline.atomic import write_atomic
from driftline.errors import InputError
from features.drop_guard import ReadLimits
from features.readers import RESERVED, ROW, open_drop
from features.validation import BOOL_SPELLINGS

from training.model import TrainedModel
from training.schema import FeatureSchema

_BOOL_WORDS = [w for w in BOOL_SPELLINGS if not w.isdigit()]  # "1" and "0" are numbers as they are
OUTPUT_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class PredictResult:
    """One scored file: the model version, the rows written, the output file and its added columns."""

    model: str
    version: int
    rows: int
    out: Path
    added: tuple[str, ...]


def read_rows(path: Path, *, limits: ReadLimits | None = None) -> pl.DataFrame:
    """The file's rows as read (CSV and JSON values as text), with the readers' ``_row`` number."""
    with tempfile.TemporaryDirectory() as workdir:
        reader = open_drop(Path(path), Path(workdir), limits=limits or ReadLimits())
        frames = list(reader.batches())
    if not frames:
        raise InputError(f"{Path(path).name} holds no rows to score", hint="pass a file with a header and rows")
    return pl.concat(frames, how="diagonal_relaxed")


def _category_type(known: tuple[Any, ...]) -> pl.DataType:
    if known and all(isinstance(v, bool) for v in known):
        return pl.Boolean()
    if known and all(isinstance(v, int) and not isinstance(v, bool) for v in known):
        return pl.Int64()
    if known and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in known):
        return pl.Float64()
    return pl.String()


def _wanted(name: str, schema: FeatureSchema) -> pl.DataType:
    return _category_type(schema.categories[name]) if name in schema.categories else pl.Float64()


def _typeable(dtype: pl.DataType, wanted: pl.DataType) -> bool:
    return dtype == wanted or dtype.is_numeric() or dtype in (pl.Boolean, pl.String, pl.Null)


def _typed(name: str, dtype: pl.DataType, wanted: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """The expression casting column ``name`` to ``wanted``, and the one flagging a value it cannot
    cast (what :func:`_typed_by_column` refuses, in the same cases)."""
    column = pl.col(name)
    if dtype != pl.String or wanted == pl.String:
        typed = column.cast(wanted, strict=False)
        return typed, typed.is_null() & column.is_not_null()
    text = column.str.strip_chars().replace("", None)
    words = text.str.to_lowercase()
    as_bool = words.replace_strict(BOOL_SPELLINGS, default=None, return_dtype=pl.Boolean).cast(wanted, strict=False)
    if wanted == pl.Boolean():
        typed = as_bool
    else:  # a numeric column spelt with one bool word anywhere is read as bools, as ingestion reads it
        typed = pl.when(words.is_in(_BOOL_WORDS).any()).then(as_bool).otherwise(text.cast(wanted, strict=False))
    return typed, typed.is_null() & text.is_not_null()


def typed_features(frame: pl.DataFrame, schema: FeatureSchema, what: str) -> pl.DataFrame:
    """``frame`` with every feature cast to the type the model was trained on; InputError naming the
    first missing column, or the first column and row whose value is not of that type."""
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise InputError(f"the input lacks column {missing[0]!r} that {what} was trained on "
                         f"({len(missing)} missing; it has {[c for c in frame.columns if c not in RESERVED]})",
                         hint=f"give every feature of the model: {', '.join(schema.features)}")
    given = frame.schema
    dtypes = tuple(given[name] for name in schema.features)
    plan = schema.memo(("typed_features", dtypes), lambda: _plan(schema, dtypes))
    if plan is None or frame.height == 0:
        return _typed_by_column(frame, schema, what)
    # Every cast and every bad-value flag in one query: each polars call costs tens of microseconds,
    # which a served single row pays per call. The column-by-column pass runs only to name an error.
    out = frame.with_columns(*plan)
    if any(out.get_column(flag)[0] for flag in _flags(len(schema.features))):
        return _typed_by_column(frame, schema, what)
    return pl.DataFrame([out.get_column(c) for c in frame.columns])  # without the flags, no query


def _flags(n: int) -> list[str]:
    return [f"\x00bad{i}" for i in range(n)]


def _plan(schema: FeatureSchema, dtypes: tuple[pl.DataType, ...]) -> list[pl.Expr] | None:
    """The casts and the bad-value flags of columns of ``dtypes``; None when one cannot be cast at all."""
    wanted = [_wanted(name, schema) for name in schema.features]
    if not all(_typeable(d, w) for d, w in zip(dtypes, wanted, strict=True)):
        return None
    exprs = [_typed(name, d, w) for name, d, w in zip(schema.features, dtypes, wanted, strict=True)]
    return [*(typed.alias(name) for name, (typed, _) in zip(schema.features, exprs, strict=True)),
            *(bad.any().alias(flag) for (_, bad), flag in zip(exprs, _flags(len(exprs)), strict=True))]


def _typed_by_column(frame: pl.DataFrame, schema: FeatureSchema, what: str) -> pl.DataFrame:
    """:func:`typed_features` one column at a time: the first column and row at fault raises."""
    casts = []
    for name in schema.features:
        column = frame[name]
        wanted = _category_type(schema.categories[name]) if name in schema.categories else pl.Float64()
        if column.dtype == pl.String and wanted != pl.String:
            column = column.str.strip_chars().replace("", None)
        if column.dtype == pl.String and (wanted == pl.Boolean() or (
                wanted.is_numeric() and column.str.to_lowercase().is_in(_BOOL_WORDS).any())):
            # A bool feature spelt as ingestion reads it (Yes/No, t/f...): the model saw it as 1/0.
            words = column.str.to_lowercase()
            column = words.replace_strict(BOOL_SPELLINGS, default=None, return_dtype=pl.Boolean)
            bad = column.is_null() & words.is_not_null()
            if bad.any():
                i = int(bad.arg_max() or 0)
                row = frame[ROW][i] if ROW in frame.columns else i + 1
                raise InputError(f"column {name!r} row {row}: {str(words[i])[:40]!r} is not a bool, the type {what} "
                                 "was trained on", hint=f"fix the value of {name} in row {row} (true/false, yes/no)")
        if not (column.dtype == wanted or column.dtype.is_numeric() or column.dtype in (pl.Boolean, pl.String,
                                                                                          pl.Null)):
            raise InputError(f"column {name!r} has type {column.dtype}; {what} expects {wanted}",
                             hint=f"write {name} as {'text' if wanted == pl.String else 'numbers'}")
        typed = column.cast(wanted, strict=False)
        bad = typed.is_null() & column.is_not_null()
        if bad.any():
            i = int(bad.arg_max() or 0)
            row = frame[ROW][i] if ROW in frame.columns else i + 1
            kind = "a number" if wanted.is_numeric() else str(wanted)
            raise InputError(f"column {name!r} row {row}: {str(column[i])[:40]!r} is not {kind}, the type {what} "
                             "was trained on", hint=f"fix the value of {name} in row {row}")
        casts.append(typed.alias(name))
    return frame.with_columns(casts)


def prediction_columns(model: TrainedModel, frame: pl.DataFrame, threshold: float | None, *,
                       threads: int | None = None) -> list[pl.Series]:
    """The model's predictions on ``frame`` as named columns (see the module doc); ``threads``: see
    :meth:`TrainedModel.predict` (the same numbers whatever the count)."""
    raw = np.asarray(model.predict(frame, threads=threads), dtype=float)
    schema = model.schema
    if schema.task == "multiclass":
        classes = list(schema.classes)
        picked = [classes[i] for i in np.argmax(raw, axis=1)]
        return [pl.Series("predicted_class", picked),
                *(pl.Series(f"proba_{c}", raw[:, i]) for i, c in enumerate(classes))]
    if schema.task == "binary":
        columns = [pl.Series("score", raw)]
        if threshold is not None:
            decided = (raw >= threshold).astype(np.int64)
            columns.append(pl.Series("decision", decided))
            if schema.names_decisions:  # yes/no: the decision in the label's own values
                columns.append(pl.Series("predicted_class", schema.class_values(decided)))
        return columns
    return [pl.Series("prediction", raw)]


def decision_threshold(model: TrainedModel, metadata: Mapping[str, Any]) -> float | None:
    """The threshold ``predict`` and the server decide a binary model at: the one its signed schema
    holds (chosen on validation data at training), else a ``metrics.threshold`` in its metadata
    (versions registered by hand), else None (no ``decision``). Versions trained by the ``train``
    flow hold theirs in the schema and never in ``metrics``: reading only ``metrics`` left their
    ``predict`` without a decision."""
    if model.schema.threshold is not None:
        return model.schema.threshold
    value = (metadata.get("metrics") or {}).get("threshold")
    return float(value) if value is not None else None


def table_bytes(frame: pl.DataFrame, out: Path) -> bytes:
    """``frame`` as CSV or Parquet by ``out``'s suffix."""
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"cannot write {out.name}: unknown output type {suffix or '(none)'}",
                         hint="name the output .csv or .parquet")
    if suffix == ".csv":
        return frame.write_csv().encode()
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def predict_file(model: TrainedModel, source: Path, out: Path, *, name: str, version: int,
                 threshold: float | None = None, limits: ReadLimits | None = None) -> PredictResult:
    """Score ``source``'s rows with ``model`` (``name`` v``version``, loaded verified by the caller)
    and write them with their predictions to ``out``, atomically."""
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:  # before reading anything
        table_bytes(pl.DataFrame(), out)
    frame = read_rows(Path(source), limits=limits)
    what = f"{name} v{version}"
    typed = typed_features(frame, model.schema, what)
    added = prediction_columns(model, typed, threshold)
    clash = [s.name for s in added if s.name in frame.columns]
    if clash:
        raise InputError(f"the input already has column {clash[0]!r}, which the predictions would overwrite",
                         hint="rename or drop that column in the input")
    result = frame.drop([c for c in frame.columns if c in RESERVED]).with_columns(added)
    write_atomic(out, table_bytes(result, out), staged="predict.staged", replaced="predict.replaced")
    return PredictResult(model=name, version=version, rows=result.height, out=out,
                         added=tuple(s.name for s in added))
