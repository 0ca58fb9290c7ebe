"""The prediction log stores a run of requests through one frame, exactly as it stored them one by one.

A server answering single rows hands the log hundreds of one-row batches a second; building one
frame per batch cost the server about as much CPU as scoring the row. :func:`serving.log_rows.runs` groups
consecutive batches of one shape and :func:`serving.log_rows.run_frame` builds their rows in one query; this
property keeps the per-batch form (a :func:`served_frame` per batch, put together diagonally, as
``_commit`` did) as the oracle, on random sequences of batches: entity lookups and inline keys,
shadows and canaries, other versions, a categorical input and the same input as text, inputs of
another type (floats, 128-bit integers) in one run, missing
scores, several sizes and arrival times in several time zones.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from driftline.errors import InputError
from features.served_predictions import batch_source, served_frame
from serving.log_rows import run_frame, runs
from serving.served import ServedBatch
from tests.serving.served_batches import batch

KEYS = ["customer_id"]
LOGGED = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
ZONES = [timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


def old_frame(batches: list[ServedBatch], source: str) -> pl.DataFrame:
    """The stored rows as ``_commit`` built them before: one served_frame per batch (the oracle)."""
    frames = [served_frame(b.inputs, b.outputs, b.entities, entity_keys=KEYS, model=b.model, version=b.version,
                           alias=b.alias, role=b.role, returned=b.returned, request_id=b.request_id,
                           received_at=b.received_at, protocol=b.protocol, logged_at=LOGGED, source=source)
              for b in batches]
    return pl.concat(frames, how="diagonal_relaxed")


def new_frame(batches: list[ServedBatch], source: str) -> pl.DataFrame:
    return pl.concat([run_frame(run, KEYS, LOGGED, source) for run in runs(batches)], how="diagonal_relaxed")


@st.composite
def served(draw: st.DrawFn, i: int) -> ServedBatch:
    rows = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["lookup", "inline", "plain", "shadow", "other-version", "category", "text",
                                 "floats", "big-ints", "no-decision"]))
    customers = [f"C{i}-{j}" for j in range(rows)]
    b = batch(f"r{i}", rows, customers=customers if kind in ("lookup", "inline", "shadow") else None,
              inline=kind == "inline", role="challenger" if kind == "shadow" else "champion",
              returned=kind != "shadow", version=4 if kind == "other-version" else 3,
              minutes=draw(st.integers(0, 90)), decision=kind != "no-decision")
    zone = draw(st.sampled_from(ZONES))
    inputs = b.inputs
    if kind == "category":
        inputs = inputs.with_columns(pl.Series("plan", ["pro", "basic", None][:rows], dtype=pl.Categorical))
    if kind == "text":  # the same column as text: a run holds both types, as the per-batch frames did
        inputs = inputs.with_columns(pl.Series("plan", ["team", None, "pro"][:rows], dtype=pl.String))
    if kind == "big-ints":
        inputs = inputs.with_columns(pl.col("sessions").cast(pl.Int128) * 10**20)
    if kind == "floats":
        inputs = inputs.with_columns(pl.col("sessions").cast(pl.Float64) / 2)
    protocol = draw(st.sampled_from(["v2", "mlflow"]))
    return ServedBatch(**{**b.__dict__, "inputs": inputs, "protocol": protocol,
                          "received_at": b.received_at.astimezone(zone)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(*(served(i) for i in range(n)))))
def test_a_run_stored_in_one_frame_equals_its_batches_stored_one_by_one(batches: tuple[ServedBatch, ...]) -> None:
    source = batch_source([b.request_id for b in batches], LOGGED)
    assert_frame_equal(new_frame(list(batches), source), old_frame(list(batches), source))


def test_one_hundred_one_row_requests_are_one_run() -> None:
    batches = [batch(f"r{i}", 1, minutes=i) for i in range(100)]
    assert len(runs(batches)) == 1
    frame = new_frame(batches, "s")
    assert frame["request_id"].to_list() == [f"r{i}" for i in range(100)] and set(frame["row"]) == {0}


def test_a_batch_whose_parts_differ_in_height_is_still_refused_by_name() -> None:
    good, bad = batch("r1", 2), batch("r2", 2)
    bad = ServedBatch(**{**bad.__dict__, "inputs": bad.inputs.head(1)})
    assert [len(r) for r in runs([good, bad, batch("r3", 2)])] == [1, 1, 1]
    with pytest.raises(InputError, match="'r2' has 1 input rows, 2 output rows"):
        new_frame([good, bad], "s")
