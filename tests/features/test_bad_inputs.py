"""A corpus of bad drops: each gets a specific reason, and nothing is lost — every row read is either
stored or quarantined, and a rejected file is kept byte for byte in the quarantine."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.drop_guard import ReadLimits
from features.readers import ROW

H = "customer_id,event_time,sessions,minutes_active,pages_per_session,support_tickets,device"
GOOD = "C000001,2024-01-01T00:00:00Z,3,12.5,2.0,0,mobile"


def _row(customer: str = "C000002", day: str = "2024-01-01T00:00:00Z", sessions: str = "1",
         minutes: str = "1.0", pages: str = "1.0", tickets: str = "0", device: str = "desktop") -> str:
    return ",".join([customer, day, sessions, minutes, pages, tickets, device])


def _csv(*rows: str, header: str = H) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _activity_table(sessions: pa.Array) -> pa.Table:
    n = len(sessions)
    return pa.table({"customer_id": [f"C{i:06d}" for i in range(1, n + 1)],
                     "event_time": pa.array(["2024-01-01T00:00:00Z"] * n), "sessions": sessions,
                     "minutes_active": [1.0] * n, "pages_per_session": [None] * n,
                     "support_tickets": [0] * n, "device": ["tablet"] * n})


def _jsonl(*objects: object) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objects)


def _good_json(customer: str = "C000001", **over: object) -> dict[str, object]:
    row: dict[str, object] = {"customer_id": customer, "event_time": "2024-01-01T00:00:00+00:00", "sessions": 2,
                              "minutes_active": 3.5, "pages_per_session": None, "support_tickets": 0,
                              "device": "mobile"}
    return {**row, **over}


@dataclass(frozen=True)
class Case:
    """A bad drop: file name and bytes, what must happen, and a phrase its reason must contain."""

    name: str
    data: bytes
    status: str
    stored: int
    quarantined: int
    reason: str
    group: str = "customer_activity"
    limits: ReadLimits | None = None  # read limits of the ingestion (the defaults when None)


CASES = [
    Case("empty.csv", b"", "rejected", 0, 0, "file is empty (0 bytes)"),
    Case("blank_header.csv", b"\n\n", "rejected", 0, 0, "header"),
    Case("header_only.csv", _csv(), "stored", 0, 0, ""),
    Case("semicolons.csv", _csv(GOOD.replace(",", ";"), header=H.replace(",", ";")), "rejected", 0, 0,
         "drops must be comma-separated"),
    Case("no_sessions.csv", _csv("C000001,2024-01-01T00:00:00Z,12.5,2.0,0,mobile",
                                 header=H.replace("sessions,", "")), "rejected", 0, 0,
         "required column(s) sessions missing"),
    Case("extra.csv", _csv(GOOD + ",red", header=H + ",colour"), "rejected", 0, 0,
         "column(s) colour not in the contract"),
    Case("twice.csv", _csv(GOOD + ",mobile", header=H + ",device"), "rejected", 0, 0,
         "device appear more than once"),
    Case("wrong_type.csv", _csv(GOOD, _row(sessions="many")), "stored", 1, 1, "sessions: 'many' is not a valid int64"),
    Case("float_for_int.csv", _csv(GOOD, _row(sessions="3.0")), "stored", 1, 1, "sessions: '3.0' is not a valid int64"),
    Case("nan.csv", _csv(GOOD, _row(minutes="NaN")), "stored", 1, 1, "minutes_active: NaN is not a finite number"),
    Case("inf.csv", _csv(GOOD, _row(pages="inf")), "stored", 1, 1, "pages_per_session: inf is not a finite number"),
    Case("below_min.csv", _csv(GOOD, _row(sessions="-3")), "stored", 1, 1, "sessions: -3 is below min 0"),
    Case("above_max.csv", _csv(GOOD, _row(tickets="51")), "stored", 1, 1, "support_tickets: 51 is above max 50"),
    Case("not_allowed.csv", _csv(GOOD, _row(device="phone")), "stored", 1, 1,
         "device: 'phone' is not one of mobile, desktop, tablet"),
    Case("pattern.csv", _csv(GOOD, _row(customer="X12")), "stored", 1, 1, "customer_id: 'X12' does not match pattern"),
    Case("null_required.csv", _csv(GOOD, _row(sessions="")), "stored", 1, 1,
         "sessions: missing but the column is not nullable"),
    Case("bad_time.csv", _csv(GOOD, _row(day="yesterday")), "stored", 1, 1,
         "event_time: 'yesterday' is not a valid timestamp"),
    Case("future.csv", _csv(GOOD, _row(day="2024-03-02T00:00:00Z")), "stored", 1, 1, "event_time: 2024-03-02"),
    Case("dup_keys.csv", _csv(GOOD, GOOD.replace(",3,", ",4,")), "stored", 1, 1,
         "duplicate key: same customer_id, event_time as row 1 of this file"),
    Case("latin1.csv", _csv(GOOD).rstrip(b"\n") + b"\n" + _row(device="desktop").encode()[:-7] + b"d\xe9sktop\n",
         "stored", 1, 1, "device: value holds bytes that are not UTF-8"),
    Case("bom.csv", b"\xef\xbb\xbf" + _csv(GOOD, _row()), "stored", 2, 0, ""),
    Case("crlf.csv", _csv(GOOD, _row()).replace(b"\n", b"\r\n"), "stored", 2, 0, ""),
    Case("quoted_newline.csv", _csv(GOOD, _row(device='"desk\ntop"')), "stored", 1, 1,
         "device: 'desk\ntop' is not one of"),
    Case("ragged.csv", _csv(GOOD, _row() + ",extra,fields"), "rejected", 0, 0, "malformed CSV"),
    Case("unterminated.csv", _csv(GOOD, _row(device='"desktop')), "rejected", 0, 0, "malformed CSV"),
    Case("junk.csv", bytes(range(256)) * 4, "rejected", 0, 0, "missing"),
    Case("huge.csv", _csv(GOOD, _row(customer="C" + "9" * 100_000)), "stored", 1, 1,
         "customer_id: string of 100001 bytes exceeds the 65536-byte limit"),
    Case("report.xlsx", b"PK\x03\x04 not really", "rejected", 0, 0, "unknown file type .xlsx"),
    Case("broken.csv.gz", gzip.compress(_csv(GOOD))[:-12], "rejected", 0, 0, "not a readable gzip file"),
    Case("zero.parquet", b"", "rejected", 0, 0, "file is empty (0 bytes)"),
    Case("truncated.parquet", _parquet(_activity_table(pa.array([1, 2])))[:-40], "rejected", 0, 0,
         "not a readable Parquet file"),
    Case("text.parquet", _csv(GOOD), "rejected", 0, 0, "not a readable Parquet file"),
    Case("float_sessions.parquet", _parquet(_activity_table(pa.array([1.0, 3.5]))), "stored", 1, 1,
         "sessions: '3.5' is not a valid int64"),
    Case("nested.jsonl", _jsonl(_good_json(), _good_json("C000002", device={"kind": "mobile"})), "stored", 1, 1,
         "nested value: device holds an object or array"),
    Case("invalid.jsonl", _jsonl(_good_json(), b'{"customer_id": "C000002", '), "stored", 1, 1,
         "invalid JSON: line 2"),
    Case("array.jsonl", _jsonl(_good_json(), [1, 2, 3]), "stored", 1, 1, "not a JSON object: line 2 holds a list"),
    Case("json_extra.jsonl", _jsonl(_good_json(colour="red")), "rejected", 0, 1, "colour not in the contract"),
    Case("nogroup.csv", _csv(GOOD), "rejected", 0, 0, "no contract for feature group 'mystery'", group="mystery"),
    # Names driftline uses itself: `_line` switched every rule off, `_parse_error` chose the reason.
    Case("reserved_line.csv", _csv(GOOD + ",x", header=H + ",_line"), "rejected", 0, 0,
         "column(s) _line are reserved"),
    Case("reserved_parse_error.csv", _csv(GOOD + ",mine", header=H + ",_parse_error"), "rejected", 0, 0,
         "column(s) _parse_error are reserved"),
    Case("reserved_source.csv", _csv(GOOD + ",x", header=H + ",_source"), "rejected", 0, 0,
         "column(s) _source are reserved"),
    Case("reserved_line.jsonl", _jsonl(_good_json(_line="anything", sessions=-5)), "rejected", 0, 0,
         "key(s) _line are reserved"),
    Case("reserved_parse_error.jsonl", _jsonl(_good_json(), _good_json("C000002", _parse_error="x: mine")),
         "rejected", 0, 0, "key(s) _parse_error are reserved"),
    Case("reserved_reason.jsonl", _jsonl(_good_json(_reason="mine")), "rejected", 0, 1,
         "column(s) _reason are reserved"),
    Case("reserved_row.parquet", _parquet(_activity_table(pa.array([1, 2])).append_column("_row", pa.array([9, 9]))),
         "rejected", 0, 0, "column(s) _row are reserved"),
    Case("reserved_line.parquet", _parquet(_activity_table(pa.array([-1, 2])).append_column(
        "_line", pa.array(["x", "x"]))), "rejected", 0, 0, "column(s) _line are reserved"),
    # Read limits (small here; the defaults are 4 GiB, 16 MiB, 1 MiB): the drop is quarantined whole.
    Case("bomb.csv.gz", gzip.compress(_csv(GOOD) + b"\n" * (4 << 20)), "rejected", 0, 0,
         "decompresses to more than 64 KiB (DRIFTLINE_INGEST__MAX_DECOMPRESSED_BYTES)",
         limits=ReadLimits(max_decompressed_bytes=64 << 10)),
    Case("long_line.csv", _csv(GOOD, _row(device="x" * 3000)), "rejected", 0, 0,
         "line 3 is longer than 1 KiB (DRIFTLINE_INGEST__MAX_LINE_BYTES)", limits=ReadLimits(max_line_bytes=1 << 10)),
    Case("no_newline.csv", H.encode() + b"\n" + b"9" * 5000, "rejected", 0, 0,
         "line 2 is longer than 1 KiB", limits=ReadLimits(max_line_bytes=1 << 10)),
    Case("long_line.csv.gz", gzip.compress(_csv(GOOD, _row(device="x" * 3000))), "rejected", 0, 0,
         "line 3 is longer than 1 KiB", limits=ReadLimits(max_line_bytes=1 << 10)),
    Case("long_line.jsonl", _jsonl(_good_json(), _good_json("C000002", device="x" * 3000)), "rejected", 0, 0,
         "line 2 is longer than 1 KiB", limits=ReadLimits(max_line_bytes=1 << 10)),
    Case("long_field.csv", _csv(GOOD, _row(device="y" * 300)), "rejected", 0, 0,
         "row 2: a value of device is longer than 256 bytes (DRIFTLINE_INGEST__MAX_FIELD_BYTES)",
         limits=ReadLimits(max_field_bytes=256)),
    Case("long_field.parquet", _parquet(_activity_table(pa.array([1, 2])).set_column(
        6, "device", pa.array(["tablet", "z" * 300]))), "rejected", 0, 0,
         "row 2: a value of device is longer than 256 bytes", limits=ReadLimits(max_field_bytes=256)),
    Case("expands.parquet", _parquet(_activity_table(pa.array(list(range(2000))))), "rejected", 0, 0,
         "more than 1 KiB (DRIFTLINE_INGEST__MAX_DECOMPRESSED_BYTES)", limits=ReadLimits(max_decompressed_bytes=1024)),
    Case("too_big.csv", _csv(GOOD, _row()), "rejected", 0, 0,
         "file is larger than 100 bytes (DRIFTLINE_INGEST__MAX_FILE_BYTES)", limits=ReadLimits(max_file_bytes=100)),
]


def test_corpus_is_large_enough() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, ingest_env) -> None:
    env = ingest_env
    path = env.drop(case.name, case.data, group=case.group)
    (report,) = env.ingest(path, **({"read_limits": case.limits} if case.limits else {}))
    assert report.rows_in == report.rows_stored + report.rows_quarantined
    assert (report.status, report.rows_stored, report.rows_quarantined) == \
           (case.status, case.stored, case.quarantined), report
    records = [r for r in env.quarantine.records() if r.digest == report.content_sha256]
    if case.status == "rejected":
        assert case.reason in report.error
        (record,) = records
        assert record.kind == "file" and case.reason in record.reason
        (copy,) = Path(record.path).glob("drop-*")
        assert copy.read_bytes() == case.data  # the whole drop is kept as it came
        assert record.poisoned == (case.limits is not None)  # a drop past a read limit is not read again
        assert not list(env.store.root.glob(".staging-*"))  # no staging folder left behind
        return
    assert report.error is None
    stored = env.store.read("customer_activity").filter(pl.col("_source") == report.content_sha256)
    assert stored.height == report.rows_stored
    if case.quarantined:
        (record,) = records
        assert record.rows == report.rows_quarantined
        rows = [json.loads(line) for p in sorted(Path(record.path).glob("rows-*.jsonl"))
                for line in p.read_text().splitlines()]
        assert any(case.reason in r["_reason"] for r in rows), [r["_reason"] for r in rows]
        assert all(isinstance(r[ROW], int) for r in rows)
        assert sum(report.reasons.values()) >= report.rows_quarantined
    else:
        assert records == [] and report.reasons == {}


def test_mixed_timezones_are_converted_to_utc(ingest_env) -> None:
    env = ingest_env
    path = env.drop("tz.csv", _csv(_row("C000001", "2024-01-01T02:00:00+02:00"),
                                   _row("C000002", "2024-01-01T00:00:00Z"),
                                   _row("C000003", "2024-01-01 00:00:00"),
                                   _row("C000004", "2023-12-31T19:00:00-05:00")))
    report = env.one(path)
    assert report.rows_stored == 4
    times = env.store.read("customer_activity")["event_time"]
    assert str(times.dtype) == "Datetime(time_unit='us', time_zone='UTC')"
    assert times.dt.epoch("s").unique().to_list() == [1704067200]  # all four are 2024-01-01T00:00Z
