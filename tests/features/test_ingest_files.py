"""How ingestion writes: good rows staged as large Parquet files and committed as they are (no
second write), with Delta statistics only for non-string, non-PII columns, and the rows of a drop
rejected midway taken back out of files it already shared with other drops."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import DeltaTable

import features.ingest_group as ingest_group
import features.stager as stager


def test_many_small_drops_become_one_data_file(ingest_env, row) -> None:
    env = ingest_env
    paths = [env.csv(f"d{d}.csv", [row(i, day=f"2024-01-{d:02d}T00:00:00Z") for i in range(5)]) for d in range(1, 13)]
    reports = env.ingest(*paths)
    assert {r.delta_version for r in reports} == {0}
    assert len(env.store.snapshot("customer_activity").files) == 1
    assert env.store.read("customer_activity").height == 60
    assert not any(p.name.startswith(".staging") for p in env.store.root.iterdir())


def test_statistics_only_for_non_string_non_pii_columns(ingest_env, row) -> None:
    env = ingest_env
    env.ingest(env.csv("a.csv", [row(1, sessions="2"), row(2, sessions="9", day="2024-01-03T00:00:00Z")]))
    log = env.store.root / "customer_activity" / "_delta_log" / f"{0:020d}.json"
    (add,) = [json.loads(line)["add"] for line in log.read_text().splitlines() if '"add"' in line]
    stats = json.loads(add["stats"])
    assert stats["numRecords"] == 2
    assert {"customer_id", "device", "_source"}.isdisjoint({*stats["minValues"], *stats["maxValues"],
                                                            *stats["nullCount"]})
    assert (stats["minValues"]["sessions"], stats["maxValues"]["sessions"]) == (2, 9)
    actions = pa.table(DeltaTable(env.store.root / "customer_activity").get_add_actions(flatten=True))
    assert actions["max.event_time"].to_pylist() == [datetime(2024, 1, 3, tzinfo=UTC)]
    assert "C000001" not in log.read_text()  # no id in the log (the erasure rule)


def test_rows_of_a_drop_rejected_after_a_shared_file_was_written_are_removed(ingest_env, row, monkeypatch) -> None:
    env = ingest_env
    monkeypatch.setattr(stager, "FILE_ROWS", 5)  # a file is written once 5 rows wait: mid-drop
    good = env.csv("good.csv", [row(i) for i in range(1, 4)])
    lines = [{"customer_id": f"C{i:06d}", "event_time": "2024-01-01T00:00:00Z", "sessions": 1, "minutes_active": 2,
              "support_tickets": 0, "device": "mobile"} for i in range(10, 20)]
    lines[-1]["colour"] = "red"  # an unknown column in the last batch rejects the whole drop
    broken = env.drop("broken.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    reports = env.ingest(good, broken, batch_rows=3)
    assert [r.status for r in reports] == ["stored", "rejected"]
    stored = env.store.read("customer_activity")
    assert sorted(stored["customer_id"].to_list()) == ["C000001", "C000002", "C000003"]
    assert stored["_source"].unique().to_list() == [reports[0].content_sha256]


def test_reject_group_sees_keys_of_earlier_drops_in_the_same_call(ingest_env) -> None:
    env = ingest_env
    base = env.contracts["churn_labels"].to_dict()
    env.contracts["churn_labels"] = type(env.contracts["churn_labels"]).from_dict({**base, "duplicates": "reject"})
    header = "customer_id,event_time,churned"
    first = env.csv("a.csv", ["C000001,2024-01-05T00:00:00Z,1"], group="churn_labels", header=header)
    second = env.csv("b.csv", ["C000002,2024-01-05T00:00:00Z,0", "C000001,2024-01-05T00:00:00Z,0"],
                     group="churn_labels", header=header)
    reports = env.ingest(first, second)
    assert [(r.rows_stored, r.rows_quarantined) for r in reports] == [(1, 0), (1, 1)]
    assert reports[1].reasons == {"duplicate key": 1}


def test_a_repeated_key_found_at_the_end_of_a_drop_is_ingested_exactly(ingest_env, row, monkeypatch) -> None:
    # Keys are checked once per drop; a repeat makes ingestion take the drop back (staged rows,
    # including a file already written, and quarantine parts) and read it again row by row.
    env = ingest_env
    monkeypatch.setattr(stager, "FILE_ROWS", 5)
    passes = []
    real = ingest_group.ingest_drop  # called from the group's loop, so patched there
    monkeypatch.setattr(ingest_group, "ingest_drop", lambda *a, **k: passes.append(k["exact"]) or real(*a, **k))
    other = env.csv("other.csv", [row(i, day="2024-01-02T00:00:00Z") for i in range(1, 4)])
    rows = [row(i, sessions="-1" if i == 3 else "2") for i in range(1, 12)] + [row(2, sessions="5")]
    drop = env.csv("drop.csv", rows)
    reports = env.ingest(other, drop, batch_rows=4)
    assert passes == [False, False, True]
    assert [(r.rows_in, r.rows_stored, r.rows_quarantined) for r in reports] == [(3, 3, 0), (12, 10, 2)]
    assert reports[1].reasons == {"sessions: below min 0": 1, "duplicate key": 1}
    stored = env.store.read("customer_activity")
    assert stored.height == 13 and 5 not in stored["sessions"].to_list()  # the repeat of C000002 is not stored
    (record,) = [r for r in env.quarantine.records() if r.digest == reports[1].content_sha256]
    assert record.rows == 2
