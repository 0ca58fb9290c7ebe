"""typed_features and FeatureSchema.matrix in one polars query each equal their column-by-column forms.

The request path casts and checks every feature in one query (a served row paid polars' per-call
cost once per column before); these properties keep the column-by-column implementations they
replaced as oracles, on random frames: nulls, bools spelt as words (with spaces and capitals),
numbers as text, unknown categories, blanks, ints, floats (NaN, inf) and strings, in columns of
every type a request or a file can give. The same frame must give the same typed frame and the
same matrix bit for bit, or the same error with the same message and hint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from driftline.errors import DriftlineError, InputError, TrainingError
from features.readers import ROW
from features.validation import BOOL_SPELLINGS
from training.schema import FeatureSchema
from usecases.predict_file import _category_type, typed_features

_BOOL_WORDS = [w for w in BOOL_SPELLINGS if not w.isdigit()]


def old_typed_features(frame: pl.DataFrame, schema: FeatureSchema, what: str) -> pl.DataFrame:
    """The column-by-column implementation as it was before the one-query form (the oracle)."""
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise InputError(f"the input lacks column {missing[0]!r} that {what} was trained on "
                         f"({len(missing)} missing; it has {[c for c in frame.columns if c != ROW]})",
                         hint=f"give every feature of the model: {', '.join(schema.features)}")
    casts = []
    for name in schema.features:
        column = frame[name]
        wanted = _category_type(schema.categories[name]) if name in schema.categories else pl.Float64()
        if column.dtype == pl.String and wanted != pl.String:
            column = column.str.strip_chars().replace("", None)
        if column.dtype == pl.String and (wanted == pl.Boolean() or (
                wanted.is_numeric() and column.str.to_lowercase().is_in(_BOOL_WORDS).any())):
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


def old_matrix(schema: FeatureSchema, frame: pl.DataFrame) -> np.ndarray:
    """FeatureSchema.matrix as it was, one Series at a time (the oracle)."""
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise TrainingError(f"feature column(s) {missing} are not in the frame (it has {frame.columns})",
                            hint="check the feature list against the training set")
    columns = []
    for name in schema.features:
        column = frame.get_column(name)
        if name in schema.categories:
            if column.dtype in (pl.Categorical, pl.Enum):
                column = column.cast(pl.String)
            known = schema.categories[name]
            column = column.replace_strict(list(known), list(range(len(known))), default=None,
                                           return_dtype=pl.Float64)
        elif not (column.dtype.is_numeric() or column.dtype == pl.Boolean):
            raise TrainingError(f"feature {name!r} has type {column.dtype}, not a number",
                                hint="list it in categorical, or cast it to a number")
        columns.append(column.cast(pl.Float64).rename(name))
    return pl.DataFrame(columns).to_numpy().astype(np.float64, copy=False)


# The categories a model may have learned, by the type of its training column.
KNOWN = {"str": ("basic", "pro", "team"), "int": (1, 2, 5), "bool": (False, True), "float": (0.5, 2.0)}
TEXT = st.sampled_from(["", " ", "3", " 4.5 ", "-1", "1e3", "nan", "inf", "x", "pro", " basic", "Team", "TEAM",
                        "1", "0", "2", "5", "0.5", "2.0", "true", "Yes", " NO ", "f", "T", "on", "off", "maybe"])
VALUES = {
    "str": TEXT,
    "int": st.integers(-3, 6),
    "float": st.sampled_from([0.0, 0.5, 2.0, -1.25, 1e300, float("nan"), float("inf"), 5.0]),
    "bool": st.booleans(),
    "null": st.none(),
}
DTYPES = {"str": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "null": pl.Null}


@st.composite
def cases(draw: Any) -> tuple[pl.DataFrame, FeatureSchema]:
    n_features = draw(st.integers(1, 4))
    rows = draw(st.integers(0, 5))
    features, categories, series = [], {}, []
    for i in range(n_features):
        name = f"f{i}"
        features.append(name)
        if draw(st.booleans()):
            categories[name] = KNOWN[draw(st.sampled_from(sorted(KNOWN)))]
        kind = draw(st.sampled_from(sorted(VALUES)))
        values = draw(st.lists(st.one_of(st.none(), VALUES[kind]), min_size=rows, max_size=rows))
        series.append(pl.Series(name, values, dtype=DTYPES[kind]))
    if draw(st.booleans()):
        series.append(pl.Series("key", [f"k{j}" for j in range(rows)]))
    if draw(st.booleans()):
        series.append(pl.Series(ROW, list(range(2, rows + 2)), dtype=pl.Int64))
    order = draw(st.permutations(range(len(series))))
    frame = pl.DataFrame([series[j] for j in order]) if series else pl.DataFrame()
    return frame, FeatureSchema(tuple(features), categories, "binary")


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except DriftlineError as exc:
        return "error", (type(exc).__name__, str(exc), exc.hint)
    except pl.exceptions.PolarsError as exc:
        return "polars", type(exc).__name__


def same_matrix(schema: FeatureSchema, frame: pl.DataFrame) -> None:
    new, old = outcome(lambda: schema.matrix(frame)), outcome(lambda: old_matrix(schema, frame))
    assert new[0] == old[0], (new, old)
    if new[0] == "ok":
        assert new[1].dtype == old[1].dtype == np.float64 and new[1].shape == old[1].shape
        assert np.ascontiguousarray(new[1]).tobytes() == np.ascontiguousarray(old[1]).tobytes()  # bit for bit
    else:
        assert new[1] == old[1]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_typed_features_in_one_query_equals_the_column_by_column_form(case: tuple[pl.DataFrame, FeatureSchema]) -> None:
    frame, schema = case
    new = outcome(lambda: typed_features(frame, schema, "churn v3"))
    old = outcome(lambda: old_typed_features(frame, schema, "churn v3"))
    assert new[0] == old[0], (new, old)
    if new[0] == "ok":
        assert_frame_equal(new[1], old[1])
        same_matrix(schema, new[1])  # what scoring does next
    else:
        assert new[1] == old[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_matrix_in_one_query_equals_the_column_by_column_form(case: tuple[pl.DataFrame, FeatureSchema]) -> None:
    frame, schema = case  # untyped frames too: training frames, and the errors of a text feature
    same_matrix(schema, frame)


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum(["pro", "basic"])])
def test_a_categorical_typed_column_is_coded_by_its_text_as_before(dtype: pl.DataType) -> None:
    schema = FeatureSchema(("plan", "n"), {"plan": ("basic", "pro")}, "binary")
    frame = pl.DataFrame({"plan": pl.Series(["pro", None, "basic"], dtype=dtype), "n": [1, 2, None]})
    same_matrix(schema, frame)
    assert schema.matrix(frame)[:, 0].tolist()[::2] == [1.0, 0.0]


# One schema for every example: its memo (the expressions kept per input shape) meets many shapes,
# is cleared when full, and must never hand one shape's expressions to another.
SHARED = FeatureSchema(("f0", "f1", "f2"), {"f1": KNOWN["str"], "f2": KNOWN["int"]}, "binary")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(sorted(VALUES)), st.data()), min_size=3, max_size=3), st.integers(1, 4))
def test_one_schema_serves_frames_of_many_shapes_as_the_old_forms_do(kinds: list, rows: int) -> None:
    series = []
    for i, (kind, data) in enumerate(kinds):
        values = data.draw(st.lists(st.one_of(st.none(), VALUES[kind]), min_size=rows, max_size=rows))
        series.append(pl.Series(f"f{i}", values, dtype=DTYPES[kind]))
    frame = pl.DataFrame(series)
    new = outcome(lambda: typed_features(frame, SHARED, "churn v3"))
    old = outcome(lambda: old_typed_features(frame, SHARED, "churn v3"))
    assert new[0] == old[0], (new, old)
    if new[0] == "ok":
        assert_frame_equal(new[1], old[1])
    else:
        assert new[1] == old[1]
    same_matrix(SHARED, frame)
    assert len(SHARED.__dict__.get("_memo", {})) <= 64


def test_the_memo_is_no_part_of_the_schema() -> None:
    schema = FeatureSchema(("a",), {}, "binary")
    schema.matrix(pl.DataFrame({"a": [1.0]}))
    again = FeatureSchema.from_dict(schema.to_dict())
    assert again == schema and repr(again) == repr(schema) and "_memo" in schema.__dict__
    assert schema.memo("k", lambda: 1) == 1 and schema.memo("k", lambda: 2) == 1
