"""The feature schema: stable category codes, unseen categories missing, labels checked."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.canonical import canonical_json
from driftline.errors import TrainingError
from training import FeatureSchema


def _schema(frame: pl.DataFrame, task: str = "binary") -> FeatureSchema:
    return FeatureSchema.fit(frame, features=["n", "c"], categorical=["c"], label="y", task=task)


def test_codes_are_sorted_categories_and_unseen_or_null_is_missing() -> None:
    train = pl.DataFrame({"n": [1.0, 2.0, 3.0], "c": ["pear", "apple", "fig"], "y": [0, 1, 0]})
    schema = _schema(train)
    assert schema.categories == {"c": ("apple", "fig", "pear")}
    later = pl.DataFrame({"n": [None, 5.0, 6.0], "c": ["fig", "kiwi", None]})
    matrix = schema.matrix(later)
    assert matrix[0, 1] == 1.0 and math.isnan(matrix[0, 0])
    assert math.isnan(matrix[1, 1]) and math.isnan(matrix[2, 1])


def test_codes_do_not_depend_on_row_order() -> None:
    frame = pl.DataFrame({"n": [1.0, 2.0, 3.0, 4.0], "c": ["b", "a", "c", "a"], "y": [0, 1, 0, 1]})
    assert _schema(frame) == _schema(frame.reverse())


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=30))
@settings(max_examples=50, deadline=None)
def test_schema_round_trips_through_canonical_json(values: list[str]) -> None:
    frame = pl.DataFrame({"n": [0.0] * len(values), "c": values, "y": [0] * len(values)})
    schema = _schema(frame)
    assert FeatureSchema.from_dict(json.loads(canonical_json(schema.to_dict()))) == schema


def test_multiclass_labels_become_class_codes() -> None:
    frame = pl.DataFrame({"n": [1.0] * 4, "c": ["x"] * 4, "y": ["lo", "mid", "hi", "lo"]})
    schema = _schema(frame, "multiclass")
    assert schema.classes == ("hi", "lo", "mid")
    assert schema.labels(frame, "y").tolist() == [1, 2, 0, 1]


def test_bad_inputs_name_the_column() -> None:
    frame = pl.DataFrame({"n": ["1"], "c": ["x"], "y": [2]})
    schema = FeatureSchema.fit(frame.with_columns(y=pl.lit(1)), features=["n", "c"], categorical=["c"],
                               label="y", task="binary")  # a 0/1 model
    with pytest.raises(TrainingError, match="feature 'n' has type String"):
        schema.matrix(frame)
    with pytest.raises(TrainingError, match="binary label 'y'"):
        schema.labels(frame, "y")
    with pytest.raises(TrainingError, match=r"binary label 'y' holds 1 distinct value\(s\) \['2'\]"):
        FeatureSchema.fit(frame, features=["n", "c"], categorical=["c"], label="y", task="binary")
    with pytest.raises(TrainingError, match=r"\['gone'\] are not in the frame"):
        FeatureSchema.fit(frame, features=["gone"], categorical=[], label="y", task="binary")
    with pytest.raises(TrainingError, match="not among the features"):
        FeatureSchema.fit(frame, features=["n"], categorical=["c"], label="y", task="binary")


def test_boolean_label_is_binary() -> None:
    frame = pl.DataFrame({"n": [1.0, 2.0], "c": ["x", "y"], "y": [True, False]})
    assert np.array_equal(_schema(frame).labels(frame, "y"), [1, 0])
