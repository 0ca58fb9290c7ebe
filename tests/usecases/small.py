"""Small worlds for the use-case tests: a store of a few rows and a tiny fitted model (fixtures: conftest.py).

Contracts are built in code (one feature group ``activity`` keyed by ``customer_id``, a labels
group), rows go in through :meth:`FeatureStore.append` with the store's bookkeeping columns, and
the model is a LightGBM fit on a dozen rows: enough to predict, small enough to fit in milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
import polars as pl

from features.contracts import ColumnSpec, FeatureGroupContract
from features.store import FeatureStore
from governance.actor import Actor
from training.model import TrainedModel, fit_final

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
KEY = ColumnSpec("customer_id", "string", nullable=False)
TIME = ColumnSpec("event_time", "timestamp", nullable=False)
ACTIVITY = FeatureGroupContract("activity", 1, ("customer_id",), "event_time",
                                (KEY, TIME, ColumnSpec("sessions", "int64")))
LABELS = FeatureGroupContract("labels", 1, ("customer_id",), "event_time",
                              (KEY, TIME, ColumnSpec("y", "int64")), label="y", task="binary")
CONTRACTS = {c.name: c for c in (ACTIVITY, LABELS)}
ACTOR = Actor(user="tester", host="laptop")
PARAMS = {"num_leaves": 4, "learning_rate": 0.3, "min_data_in_leaf": 1, "min_data_in_bin": 1}


def put(store: FeatureStore, group: str, rows: list[dict], source: str = "a" * 64) -> int:
    """Append ``rows`` (contract columns; ``event_time`` given in minutes after T0) in one commit."""
    types = {"string": pl.String, "int64": pl.Int64, "timestamp": pl.Datetime("us", "UTC")}
    contract = CONTRACTS[group]
    schema = {c.name: types[c.dtype] for c in contract.columns}
    schema |= {"_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String}
    frame = pl.DataFrame([{**r, "event_time": T0 + timedelta(minutes=r["event_time"]),
                           "_ingested_at": T0 + timedelta(days=1), "_source": source} for r in rows], schema=schema)
    return store.append(group, frame.to_arrow(), sources=[source],
                        key_columns=(*contract.entity_keys, contract.event_time))


def tiny_frame(n: int = 12) -> pl.DataFrame:
    """``sessions`` 0..n-1, label 1 from the middle up: a model learns to rank by sessions."""
    return pl.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "sessions": list(range(n)),
                         "y": [int(i >= n // 2) for i in range(n)]})


def tiny_fit(seed: int = 1) -> TrainedModel:
    return fit_final(tiny_frame(), features=["sessions"], categorical=[], label="y", task="binary",
                     params=PARAMS, num_boost_round=5, seed=seed, n_threads=1)
