"""Latest values for scoring: a worked example, agreement with the point-in-time join, errors, scale."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.errors import ContractError, InputError
from features.contracts import ColumnSpec, FeatureGroupContract
from features.latest import latest_features
from features.snapshot import GroupSnapshot
from features.training_set import build_training_set

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
KEY, TIME = ColumnSpec("customer_id", "string", nullable=False), ColumnSpec("event_time", "timestamp", nullable=False)
ACTIVITY = FeatureGroupContract("activity", 1, ("customer_id",), "event_time",
                                (KEY, TIME, ColumnSpec("sessions", "int64")), ttl=timedelta(minutes=5))
BILLING = FeatureGroupContract("billing", 1, ("customer_id",), "event_time", (KEY, TIME, ColumnSpec("plan", "string")))
LABELS = FeatureGroupContract("labels", 1, ("customer_id",), "event_time",
                              (KEY, TIME, ColumnSpec("y", "int64")), label="y", task="binary")
CONTRACTS = {c.name: c for c in (ACTIVITY, BILLING, LABELS)}


def write(folder: Path, group: str, rows: list[dict]) -> GroupSnapshot:
    types = {"string": pl.String, "int64": pl.Int64, "timestamp": pl.Datetime("us", "UTC")}
    schema = {c.name: types[c.dtype] for c in CONTRACTS[group].columns}
    schema |= {"_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String}
    path = folder / f"{group}.parquet"
    pl.DataFrame([{**r, "_source": "s"} for r in rows], schema=schema).write_parquet(path)
    return GroupSnapshot(group, 1, (str(path),))


def row(key: str, minutes: int, ingested: int = 0, **values) -> dict:
    return {"customer_id": key, "event_time": T0 + timedelta(minutes=minutes),
            "_ingested_at": T0 + timedelta(days=1, seconds=ingested), **values}


def test_latest_value_per_entity_with_ttl_duplicates_and_future_rows(tmp_path):
    activity = write(tmp_path, "activity", [
        row("a", 1, sessions=1), row("a", 8, sessions=2), row("a", 8, ingested=5, sessions=3),  # re-stated: 3 wins
        row("a", 11, sessions=99),  # after as_of: unseen
        row("b", 2, sessions=7),    # 8 minutes old at as_of: expired (TTL 5m)
        row("c", 5, sessions=4)])   # exactly TTL old: kept
    billing = write(tmp_path, "billing", [row("b", 0, plan="basic"), row("d", 9, plan="premium")])
    frame = latest_features([activity, billing], CONTRACTS, as_of=T0 + timedelta(minutes=10))
    assert frame.to_dicts() == [
        {"customer_id": "a", "sessions": 3, "plan": None},
        {"customer_id": "b", "sessions": None, "plan": "basic"},
        {"customer_id": "c", "sessions": 4, "plan": None},
        {"customer_id": "d", "sessions": None, "plan": "premium"}]
    # A naive as_of is read as UTC, the store's time zone.
    naive = latest_features([activity, billing], CONTRACTS, as_of=datetime(2026, 3, 1, 0, 10))
    assert naive.equals(frame)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activity=st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 20), st.integers(0, 9)), max_size=20),
       billing=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 20), st.sampled_from(["x", "y"])),
                        max_size=20),
       at=st.integers(0, 25))
def test_agrees_with_a_training_set_labelled_at_as_of(activity, billing, at):
    """Scoring at ``as_of`` must see exactly what training saw for a label stamped ``as_of``."""
    as_of = T0 + timedelta(minutes=at)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        snaps = [write(folder, "activity", [row(k, m, i, sessions=v) for i, (k, m, v) in enumerate(activity)]),
                 write(folder, "billing", [row(k, m, i, plan=v) for i, (k, m, v) in enumerate(billing)])]
        labels = write(folder, "labels", [{"customer_id": k, "event_time": as_of, "y": 0, "_ingested_at": T0}
                                          for k in "abcd"])
        latest = latest_features(snaps, CONTRACTS, as_of=as_of)
        trained = build_training_set(labels, snaps, CONTRACTS).frame.select("customer_id", "sessions", "plan")
    seen = trained.filter(pl.any_horizontal(pl.col("sessions", "plan").is_not_null()))
    assert latest.to_dicts() == seen.to_dicts()


def test_wrong_inputs_are_refused():
    with pytest.raises(InputError, match="no feature group"):
        latest_features([], CONTRACTS)
    other_key = FeatureGroupContract("billing", 1, ("account",), "event_time",
                                     (ColumnSpec("account", "string"), TIME, ColumnSpec("plan", "string")))
    with pytest.raises(ContractError, match="keyed by"):
        latest_features([GroupSnapshot("activity", 1, ()), GroupSnapshot("billing", 1, ())],
                        {**CONTRACTS, "billing": other_key})
    with pytest.raises(ContractError, match="twice"):
        latest_features([GroupSnapshot("activity", 1, ()), GroupSnapshot("activity", 2, ())], CONTRACTS)


def test_empty_groups_give_an_empty_typed_frame():
    frame = latest_features([GroupSnapshot("activity", 0, ()), GroupSnapshot("billing", 0, ())], CONTRACTS)
    assert frame.height == 0 and frame.schema == pl.Schema({"customer_id": pl.String, "sessions": pl.Int64,
                                                            "plan": pl.String})


@pytest.mark.slow
def test_a_million_entities_get_one_row_each(tmp_path):
    # The speed is bench_latest.py's to measure; this checks the answer at that scale.
    n = 1_000_000
    ids = pl.Series(np.char.add("C", np.char.zfill(np.arange(n).astype(str), 6)))
    rng = np.random.default_rng(0)
    for group, column, values in (("activity", "sessions", rng.integers(0, 50, 2 * n)),
                                  ("billing", "plan", np.array(["x", "y", "z"])[rng.integers(0, 3, 2 * n)])):
        pl.DataFrame({"customer_id": pl.concat([ids, ids]),
                      "event_time": pl.Series(T0 + timedelta(minutes=m) for m in (1, 3)).gather(np.repeat([0, 1], n)),
                      column: values, "_ingested_at": T0, "_source": "s"}).write_parquet(tmp_path / f"{group}.parquet")
    snaps = [GroupSnapshot(g, 1, (str(tmp_path / f"{g}.parquet"),)) for g in ("activity", "billing")]
    frame = latest_features(snaps, CONTRACTS, as_of=T0 + timedelta(minutes=4))
    assert frame.height == n and frame["sessions"].null_count() == 0
