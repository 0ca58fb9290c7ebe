"""Rows of the label group whose label is null are not label events: a flat table's unlabelled
rows (the ones a model is there to score) are left out of the training set instead of refusing
the whole run ("label 'sex' has 8 null value(s)" on the Palmer penguins table of the README)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from features.contracts import ColumnSpec, FeatureGroupContract
from features.snapshot import GroupSnapshot
from features.training_set import build_training_set

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
BIRDS = FeatureGroupContract("birds", 1, ("bird_id",), "seen_at",
                             (ColumnSpec("bird_id", "string", nullable=False),
                              ColumnSpec("seen_at", "timestamp", nullable=False),
                              ColumnSpec("mass", "float64"), ColumnSpec("sex", "int64")))


def birds(tmp_path: Path, rows: list[tuple[str, int, float, int | None, int]]) -> GroupSnapshot:
    frame = pl.DataFrame(
        [{"bird_id": b, "seen_at": T0 + timedelta(days=d), "mass": m, "sex": s,
          "_ingested_at": T0 + timedelta(days=30 + i), "_source": "sha"} for b, d, m, s, i in rows],
        schema={"bird_id": pl.String, "seen_at": pl.Datetime("us", "UTC"), "mass": pl.Float64, "sex": pl.Int64,
                "_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String})
    frame.write_parquet(tmp_path / "birds.parquet")
    return GroupSnapshot("birds", 1, (str(tmp_path / "birds.parquet"),))


def test_unlabelled_rows_of_a_flat_table_are_left_out(tmp_path: Path) -> None:
    flat = birds(tmp_path, [("a", 0, 3.1, 1, 0), ("b", 1, 4.2, None, 0), ("c", 2, 3.9, 0, 0)])
    ts = build_training_set(flat, [flat], {"birds": BIRDS}, label_column="sex", task="binary")
    assert ts.frame["bird_id"].to_list() == ["a", "c"]
    assert ts.frame["sex"].null_count() == 0 and ts.feature_columns == ("mass",)


def test_a_label_restated_as_null_drops_the_row_rather_than_bring_back_the_old_label(tmp_path: Path) -> None:
    # The same key and time ingested twice, the later without a label: the row is unlabelled now.
    flat = birds(tmp_path, [("a", 0, 3.1, 1, 0), ("a", 0, 3.1, None, 1), ("c", 2, 3.9, 0, 0)])
    ts = build_training_set(flat, [flat], {"birds": BIRDS}, label_column="sex", task="binary")
    assert ts.frame["bird_id"].to_list() == ["c"]
