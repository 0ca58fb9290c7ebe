"""The monitor's window rows over two groups: each arrival joined with every group at its own time."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from features.arrivals import arrived_rows
from features.contracts import ColumnSpec, FeatureGroupContract
from features.store import FeatureStore
from tests.usecases.small import ACTIVITY, KEY, T0, TIME

# A slow-changing group with a one-day TTL beside the event-style activity group.
PLAN = FeatureGroupContract("plan", 1, ("customer_id",), "event_time",
                            (KEY, TIME, ColumnSpec("tier", "string")), ttl=timedelta(days=1))
CONTRACTS = {c.name: c for c in (ACTIVITY, PLAN)}
TYPES = {"string": pl.String, "int64": pl.Int64, "timestamp": pl.Datetime("us", "UTC")}


def _put(store: FeatureStore, contract: FeatureGroupContract, rows: list[dict]) -> None:
    schema = {c.name: TYPES[c.dtype] for c in contract.columns}
    schema |= {"_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String}
    frame = pl.DataFrame([{**r, "event_time": T0 + timedelta(hours=r["event_time"]), "_ingested_at": T0,
                           "_source": "s" * 64} for r in rows], schema=schema)
    store.append(contract.name, frame.to_arrow(), sources=["s" * 64], key_columns=("customer_id", "event_time"))


def test_each_arrival_in_the_window_gets_every_groups_value_as_of_its_time_ttl_applied(tmp_path) -> None:
    store = FeatureStore(tmp_path / "store")
    _put(store, ACTIVITY, [{"customer_id": "a", "event_time": 1, "sessions": 1},    # before the window
                           {"customer_id": "a", "event_time": 50, "sessions": 5},
                           {"customer_id": "b", "event_time": 60, "sessions": 6},
                           {"customer_id": "b", "event_time": 200, "sessions": 9}])  # after the window
    _put(store, PLAN, [{"customer_id": "a", "event_time": 0, "tier": "gold"},        # 50 h old at a's row: expired
                       {"customer_id": "b", "event_time": 55, "tier": "free"},
                       {"customer_id": "c", "event_time": 70, "tier": "pro"}])       # c arrives in plan only
    rows = arrived_rows([store.snapshot("activity"), store.snapshot("plan")], CONTRACTS,
                        since=T0 + timedelta(hours=48), until=T0 + timedelta(hours=100))
    got = [(r["customer_id"], (r["event_time"] - T0) // timedelta(hours=1), r["sessions"], r["tier"])
           for r in rows.iter_rows(named=True)]
    assert got == [("a", 50, 5, None), ("b", 55, None, "free"), ("b", 60, 6, "free"), ("c", 70, None, "pro")]
    assert rows.columns == ["customer_id", "event_time", "sessions", "tier"]
