"""A bool feature reaches ``predict`` spelt as the data spelt it: ingestion reads Yes/No (and t/f,
y/n...) as a bool column and the model was trained on it as 1/0, so the same CSV given to
``predict`` must read the same (the Palmer penguins' clutch_completion failed with "'Yes' is not a
number")."""

from __future__ import annotations

import polars as pl
import pytest

from driftline.errors import InputError
from training.schema import FeatureSchema
from usecases.predict_file import typed_features

SCHEMA = FeatureSchema(features=("clutch", "mass"), categories={}, task="regression")


def test_yes_and_no_read_as_ingestion_reads_them() -> None:
    frame = pl.DataFrame({"clutch": ["Yes", "No", None, " yes "], "mass": ["3750", "3800", "3250", "4000"]})
    typed = typed_features(frame, SCHEMA, "body_mass v1")
    assert typed["clutch"].to_list() == [1.0, 0.0, None, 1.0]
    assert typed["mass"].to_list() == [3750.0, 3800.0, 3250.0, 4000.0]


def test_a_word_that_is_no_bool_spelling_is_still_refused_by_row() -> None:
    frame = pl.DataFrame({"clutch": ["Yes", "maybe"], "mass": ["1", "2"]})
    with pytest.raises(InputError, match="column 'clutch' row 2: 'maybe' is not a bool"):
        typed_features(frame, SCHEMA, "body_mass v1")
