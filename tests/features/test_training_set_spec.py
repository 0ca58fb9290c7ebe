"""A model spec's label, task and excluded columns shape the training set, not the label contract.

A flat table (the label group is its own feature group) whose contract names no label trains on
the spec's label column with the table's other columns as features; excluded columns (ids, an
old model's predictions) are never features, whether they come from the flat table or a joined
group; keys, time and label stay in the frame.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from driftline.errors import ContractError
from features.contracts import ColumnSpec, FeatureGroupContract
from features.snapshot import GroupSnapshot
from features.training_set import build_training_set

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = ColumnSpec("account_id", "string", nullable=False)
TIME = ColumnSpec("event_time", "timestamp", nullable=False)
# A flat table: no label and no task in its contract, an id copy and an old model's score.
ACCOUNTS = FeatureGroupContract("accounts", 1, ("account_id",), "event_time",
                                (KEY, TIME, ColumnSpec("spend", "float64"),
                                 ColumnSpec("plan", "string", categorical=True),
                                 ColumnSpec("old_score", "float64"), ColumnSpec("tier", "float64")))
USAGE = FeatureGroupContract("usage", 1, ("account_id",), "event_time",
                             (KEY, TIME, ColumnSpec("logins", "int64"), ColumnSpec("usage_row_id", "int64")))
CONTRACTS = {c.name: c for c in (ACCOUNTS, USAGE)}
TYPES = {"string": pl.String, "int64": pl.Int64, "float64": pl.Float64, "timestamp": pl.Datetime("us", "UTC")}


def snapshot(folder: Path, contract: FeatureGroupContract, rows: list[dict]) -> GroupSnapshot:
    schema = {c.name: TYPES[c.dtype] for c in contract.columns}
    schema |= {"_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String}
    path = folder / f"{contract.name}.parquet"
    pl.DataFrame([{**r, "_ingested_at": T0, "_source": "sha"} for r in rows], schema=schema).write_parquet(path)
    return GroupSnapshot(contract.name, 2, (str(path),))


def accounts(tmp_path: Path) -> GroupSnapshot:
    return snapshot(tmp_path, ACCOUNTS, [
        {"account_id": f"a{i}", "event_time": T0 + timedelta(hours=i), "spend": 1.5 * i, "plan": "p",
         "old_score": 0.1, "tier": float(i % 3)} for i in range(4)])


def test_a_flat_table_without_a_contract_label_trains_on_the_spec_label(tmp_path: Path) -> None:
    flat = accounts(tmp_path)
    ts = build_training_set(flat, [flat], CONTRACTS, label_column="tier", task="regression",
                            exclude=["old_score"])
    assert ts.label_column == "tier" and ts.task == "regression"
    assert ts.feature_columns == ("spend", "plan") and ts.categorical_columns == ("plan",)
    assert ts.frame.columns == ["account_id", "event_time", "tier", "spend", "plan"]
    assert ts.frame["tier"].to_list() == [0.0, 1.0, 2.0, 0.0]


def test_excluded_columns_of_a_joined_group_are_not_features(tmp_path: Path) -> None:
    flat = accounts(tmp_path)
    usage = snapshot(tmp_path, USAGE, [{"account_id": "a1", "event_time": T0, "logins": 7, "usage_row_id": 11}])
    ts = build_training_set(flat, [usage], CONTRACTS, label_column="tier", task="regression",
                            exclude=["usage_row_id"])
    assert ts.feature_columns == ("logins",)
    assert "usage_row_id" not in ts.frame.columns and "spend" not in ts.frame.columns
    assert ts.frame.filter(pl.col("account_id") == "a1")["logins"].to_list() == [7]


def test_a_spec_label_that_is_not_a_column_names_the_columns(tmp_path: Path) -> None:
    flat = accounts(tmp_path)
    with pytest.raises(ContractError, match="'churned' is not a column of group 'accounts'") as raised:
        build_training_set(flat, [flat], CONTRACTS, label_column="churned", task="binary")
    assert raised.value.hint and "label_column" in raised.value.hint


def test_a_flat_table_with_no_label_anywhere_is_refused(tmp_path: Path) -> None:
    flat = accounts(tmp_path)
    with pytest.raises(ContractError, match="not a labels group") as raised:
        build_training_set(flat, [flat], CONTRACTS)
    assert raised.value.hint and "model spec" in raised.value.hint
