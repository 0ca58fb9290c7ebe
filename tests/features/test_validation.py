"""Row validation: typing, every rule's reason, and a round-trip law — a row that obeys the
contract is stored with exactly its values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import IngestError
from features.contracts import load_contracts
from features.readers import ROW
from features.validation import KeyIndex, Limits, check_header, stored_schema, validate_batch

ACTIVITY = load_contracts()["customer_activity"]
NOW = datetime(2024, 3, 1, tzinfo=UTC)


def _batch(**columns: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {"customer_id": ["C000001"], "event_time": ["2024-01-01T00:00:00Z"],
                                     "sessions": ["1"], "minutes_active": ["1"], "pages_per_session": [None],
                                     "support_tickets": ["0"], "device": ["mobile"]}
    frame = pl.DataFrame({**base, **columns}, schema={k: pl.String for k in {**base, **columns}})
    return frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(ROW))


def test_stored_schema_types() -> None:
    schema = stored_schema(ACTIVITY)
    assert schema.names[-2:] == ["_ingested_at", "_source"]
    assert str(schema.field("event_time").type) == "timestamp[us, tz=UTC]"


def test_header_rules() -> None:
    check_header(["customer_id", "event_time", "sessions", "minutes_active", "support_tickets", "device"],
                 ACTIVITY, file="f")  # pages_per_session is nullable: it may be absent
    with pytest.raises(IngestError, match="required column\\(s\\) device missing"):
        check_header(["customer_id", "event_time", "sessions", "minutes_active", "support_tickets"], ACTIVITY, file="f")


def test_a_row_with_many_problems_names_them_all() -> None:
    result = validate_batch(_batch(sessions=["501"], device=["tv"], minutes_active=["-0.5"]), ACTIVITY, now=NOW)
    (reason,) = result.bad["_reason"].to_list()
    assert set(reason.split("; ")) == {
        "sessions: 501 is above max 500", "minutes_active: -0.5 is below min 0",
        "device: 'tv' is not one of mobile, desktop, tablet"}
    assert result.good.height == 0 and sum(result.reasons.values()) == 3


def test_future_tolerance() -> None:
    soon = (NOW + timedelta(minutes=4)).isoformat()
    late = (NOW + timedelta(minutes=6)).isoformat()
    result = validate_batch(_batch(event_time=[soon, late], customer_id=["C000001", "C000002"],
                                   sessions=["1", "1"], minutes_active=["1", "1"], pages_per_session=[None, None],
                                   support_tickets=["0", "0"], device=["mobile", "mobile"]), ACTIVITY, now=NOW)
    assert result.good.height == 1 and result.reasons == {"event_time: in the future": 1}
    assert validate_batch(_batch(event_time=[late]), ACTIVITY, now=NOW,
                          limits=Limits(future_tolerance=timedelta(hours=1))).good.height == 1


@settings(max_examples=40, deadline=None)
@given(sessions=st.integers(0, 500), minutes=st.floats(0, 1440, allow_nan=False),
       pages=st.none() | st.floats(0, 1000), device=st.sampled_from(["mobile", "desktop", "tablet"]),
       moment=st.datetimes(datetime(2000, 1, 1), datetime(2024, 2, 1), timezones=st.just(UTC)))
def test_valid_rows_round_trip(sessions, minutes, pages, device, moment) -> None:
    batch = _batch(sessions=[str(sessions)], minutes_active=[repr(minutes)],
                   pages_per_session=[None if pages is None else repr(pages)], device=[device],
                   event_time=[moment.isoformat()])
    result = validate_batch(batch, ACTIVITY, now=NOW)
    assert result.bad.height == 0
    row = result.good.row(0, named=True)
    assert (row["sessions"], row["minutes_active"], row["pages_per_session"], row["device"], row["event_time"]) == \
           (sessions, minutes, pages, device, moment)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(st.integers(0, 40), max_size=30), max_size=8))
def test_key_index_finds_the_first_row_of_every_key(batches) -> None:
    index, first, row = KeyIndex(), {}, 0
    for batch in batches:
        hashes = np.array(batch, dtype=np.uint64)
        rows = np.arange(row + 1, row + 1 + len(batch), dtype=np.int64)
        expected = [first.get(h, 0) for h in batch]
        assert index.lookup(hashes).tolist() == expected
        new = [i for i, h in enumerate(batch) if h not in first and batch.index(h) == i]
        for i in new:
            first[batch[i]] = int(rows[i])
        index.add(hashes[new], rows[new])
        row += len(batch)


_INTS = st.one_of(st.none(), st.integers(-10**6, 10**6))
_FLOATS = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=150)
@given(st.lists(st.tuples(_INTS, _FLOATS, _FLOATS, st.sampled_from([None, "mobile", "phone", "x" * 70_000]),
                          st.sampled_from([None, "2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z"])),
                min_size=1, max_size=12),
       st.booleans())
def test_a_probe_never_misses_a_row_its_rule_flags(rows, typed) -> None:
    # Probes may say "maybe" where no row breaks a rule, never "no" where one does. Checked on
    # typed (Parquet-like) and textual (CSV-like) batches.
    from features.validation import _rules

    sessions, minutes, pages, device, moment = zip(*rows, strict=True)
    columns = {"customer_id": [f"C{i:06d}" for i in range(len(rows))], "event_time": list(moment),
               "sessions": list(sessions),
               "minutes_active": [None if v is None else float(v) for v in minutes],
               "pages_per_session": [None if v is None else float(v) for v in pages],
               "support_tickets": [None if v is None else v % 60 for v in sessions], "device": list(device)}
    frame = pl.DataFrame(columns, schema={"customer_id": pl.String, "event_time": pl.String, "sessions": pl.Int64,
                                          "minutes_active": pl.Float64, "pages_per_session": pl.Float64,
                                          "support_tickets": pl.Int64, "device": pl.String})
    if typed:
        frame = frame.with_columns(pl.col("event_time").str.to_datetime(time_zone="UTC"))
    else:
        frame = frame.select(pl.all().cast(pl.String))
    frame = frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(ROW))
    result = validate_batch(frame, ACTIVITY, now=NOW)  # builds the work frame the rules read
    assert result.good.height + result.bad.height == frame.height
    from features import validation

    work = pl.DataFrame([s for spec in ACTIVITY.columns for s in (
        validation._typed(frame[spec.name], spec).alias(spec.name), frame[spec.name].alias(f"raw:{spec.name}"))])
    rules, probes = _rules(ACTIVITY, tuple(work[f"raw:{n}"].dtype for n in ACTIVITY.column_names), NOW, Limits(),
                           False, False, True)
    said = validation._probe(work, rules, probes)
    fired = work.select([rule.mask.any().alias(str(i)) for i, rule in enumerate(rules)]).row(0)
    assert [rule.kind for rule, maybe, hit in zip(rules, said, fired, strict=True) if hit and not maybe] == []


@pytest.mark.parametrize("allowed", [("mobile", "desktop", "tablet"), tuple(f"kind{i}" for i in range(12))],
                         ids=["compared one by one", "hash lookup"])
def test_allowed_values_flag_exactly_the_values_outside_the_list(allowed) -> None:
    import dataclasses

    device = dataclasses.replace(ACTIVITY.column("device"), nullable=True, allowed=allowed)
    contract = dataclasses.replace(ACTIVITY, columns=tuple(device if c.name == "device" else c
                                                           for c in ACTIVITY.columns))
    values = [allowed[0], allowed[-1], None, "phone", "", allowed[0].upper()]
    n = len(values)
    result = validate_batch(_batch(device=values, customer_id=[f"C{i:06d}" for i in range(n)],
                                   event_time=["2024-01-01T00:00:00Z"] * n, sessions=["1"] * n,
                                   minutes_active=["1"] * n, pages_per_session=[None] * n,
                                   support_tickets=["0"] * n), contract, now=NOW)
    # Null (nullable) passes; an empty string is a value, and case matters.
    assert result.bad["device"].to_list() == ["phone", "", allowed[0].upper()]
    assert result.reasons == {"device: not allowed": 3}
