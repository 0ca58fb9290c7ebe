"""The prediction log on a temporary store: rows land with their bookkeeping, entity keys from a lookup
or sent inline, a full queue drops and counts (never waits), the timer flushes a lone batch, the audit
trail gets counts per N rows and at close, and bad input is refused or counted without killing the writer."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

from driftline.errors import InputError
from features.served_predictions import SERVED_GROUP, input_column, served_inputs
from features.store import FeatureStore
from governance.audit import AuditLog
from serving.prediction_log import LogCommit, PredictionLog
from serving.served import ServedBatch
from tests.serving.served_batches import batch
from tests.usecases.small import ACTOR


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data home; the settings read it and the passphrase from env (as tests/usecases' fixture)."""
    from tests.usecases.candidates import PASSPHRASE

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("DRIFTLINE_KEY_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("DRIFTLINE_FAULT", raising=False)
    return tmp_path / "home"


def test_batches_are_stored_with_their_bookkeeping_and_entity_keys(store: FeatureStore) -> None:
    log = PredictionLog(store, entity_keys=["customer_id"], batch_rows=100)
    log.submit(batch("r1", customers=["C1", "C2", "C3"]))  # an entity lookup
    log.submit(batch("r2", 2, customers=["C4", "C5"], inline=True))  # the key sent as an input
    log.submit(batch("r3", 2))  # features alone: no entity known
    log.submit(batch("r1", role="challenger", returned=False, version=4, customers=["C1", "C2", "C3"]))
    log.close()
    rows = store.read(SERVED_GROUP).sort("request_id", "model_version", "row")
    assert rows.height == 10 and log.stats.committed_rows == 10 and log.stats.pending_rows == 0
    assert rows.filter(pl.col("request_id") == "r1")["customer_id"].to_list() == ["C1", "C2", "C3"] * 2
    assert rows.filter(pl.col("request_id") == "r2")["customer_id"].to_list() == ["C4", "C5"]
    assert rows.filter(pl.col("request_id") == "r3")["customer_id"].null_count() == 2
    shadow = rows.filter(pl.col("model_version") == 4)
    assert set(shadow["role"]) == {"challenger"} and set(shadow["returned"]) == {False}
    assert {"score", "decision", "sessions", "received_at", "alias", "protocol", "row"} <= set(rows.columns)


def test_an_input_named_like_a_layout_column_is_kept_under_a_prefix(store: FeatureStore) -> None:
    b = batch("r1", 2)
    clash = ServedBatch(**{**b.__dict__, "inputs": b.inputs.with_columns(pl.lit(7).alias("score"))})
    log = PredictionLog(store)
    log.submit(clash)
    log.close()
    rows = store.read(SERVED_GROUP)
    assert input_column("score") in rows.columns and rows["score"].to_list() == [0.0, 0.1]
    assert served_inputs(rows, ["score", "sessions"]).rows() == [(7, 0), (7, 1)]


def test_a_full_queue_drops_the_batch_and_counts_it_without_waiting(store: FeatureStore) -> None:
    gate = threading.Event()
    # The writer is held inside on_commit, so nothing is taken off the queue while we fill it.
    log = PredictionLog(store, batch_rows=2, max_pending_rows=4, on_commit=lambda c: gate.wait(60))
    log.submit(batch("first", 2))  # taken by the writer (2 rows due), committed, then held
    log.submit(batch("q1", 2))  # queued: 2 rows pending of at most 4
    log.submit(batch("over", 3))  # would make 5: dropped at once
    stats = log.stats
    assert (stats.submitted_rows, stats.dropped_rows) == (7, 3)
    gate.set()
    log.close()
    stats = log.stats
    assert stats.committed_rows == 4 and stats.pending_rows == 0 and stats.failed_rows == 0
    assert "over" not in store.read(SERVED_GROUP)["request_id"].to_list()


def test_a_lone_batch_is_committed_by_the_timer(store: FeatureStore) -> None:
    done = threading.Event()
    log = PredictionLog(store, batch_rows=1000, flush_seconds=0.05, on_commit=lambda c: done.set())
    log.submit(batch("alone", 1))
    assert done.wait(60), "a batch below batch_rows was never committed"
    assert log.stats.committed_rows == 1
    log.close()


def test_flush_commits_what_was_submitted_and_reports_each_commit(store: FeatureStore) -> None:
    commits: list[LogCommit] = []
    log = PredictionLog(store, batch_rows=1000, flush_seconds=3600, on_commit=commits.append)
    log.submit(batch("a", 2))
    log.submit(batch("b", 3))
    assert log.flush(timeout=60)
    assert [(c.rows, c.request_ids) for c in commits] == [(5, ("a", "b"))]
    assert commits[0].delta_version == store.version(SERVED_GROUP)
    log.close()
    log.close()  # idempotent


def test_counts_are_audited_per_n_rows_and_at_close_never_per_flush(tmp_path: Path, store: FeatureStore) -> None:
    audit = AuditLog(tmp_path / "audit")
    log = PredictionLog(store, audit=audit, actor=ACTOR, batch_rows=2, audit_every_rows=4,
                        audit_every_seconds=0)
    for i in range(5):
        log.submit(batch(f"r{i}", 2))
        assert log.flush(timeout=60)
    log.close()
    entries = [e for e in audit.entries() if e.action == "serving.logged"]
    assert [e.details["rows"] for e in entries] == [4, 4, 2] and log.stats.commits == 5
    assert entries[-1].details["final"] is True and entries[0].details["rows_by_version_role"] == {
        "churn:v3:champion": 4}
    assert entries[0].subject == f"group:{SERVED_GROUP}"


def test_under_heavy_traffic_the_trail_gets_at_most_one_entry_a_minute(tmp_path: Path, store: FeatureStore) -> None:
    audit = AuditLog(tmp_path / "audit")
    log = PredictionLog(store, audit=audit, actor=ACTOR, batch_rows=2, audit_every_rows=4)  # 60 s apart
    for i in range(5):
        log.submit(batch(f"r{i}", 2))
        assert log.flush(timeout=60)
    log.close()
    entries = [e for e in audit.entries() if e.action == "serving.logged"]
    assert [(e.details["rows"], e.details["commits"], e.details["final"]) for e in entries] == [(10, 5, True)]


def test_a_queue_of_many_small_requests_is_capped_by_their_count(store: FeatureStore) -> None:
    gate = threading.Event()
    log = PredictionLog(store, batch_rows=1000, flush_seconds=3600, max_pending_requests=3,
                        on_commit=lambda c: gate.wait(60))
    for i in range(5):
        log.submit(batch(f"r{i}", 1))  # rows are far below max_pending_rows; requests are not
    stats = log.stats
    assert (stats.submitted_rows, stats.dropped_rows, stats.pending_rows) == (5, 2, 3)
    gate.set()
    log.close()
    assert sorted(store.read(SERVED_GROUP)["request_id"].to_list()) == ["r0", "r1", "r2"]


def test_the_table_is_compacted_beside_the_commits_and_no_row_is_lost(tmp_path: Path, store: FeatureStore) -> None:
    audit = AuditLog(tmp_path / "audit")
    log = PredictionLog(store, audit=audit, actor=ACTOR, batch_rows=1, compact_min_files=4)
    for i in range(24):  # a commit each; compactions run in their thread while the next commits land
        log.submit(batch(f"r{i}", 2))
        assert log.flush(timeout=60)
    log.close()
    rows = store.read(SERVED_GROUP)
    assert rows.height == 48 and set(rows["request_id"]) == {f"r{i}" for i in range(24)}
    assert (log.stats.committed_rows, log.stats.failed_rows, log.stats.commits) == (48, 0, 24)
    compactions = [e for e in audit.entries() if e.action == "store.compact"]
    assert compactions and all(e.subject == f"group:{SERVED_GROUP}" for e in compactions)
    assert len(store.snapshot(SERVED_GROUP).files) < 24


def test_a_failed_compaction_is_logged_and_the_log_goes_on(store: FeatureStore, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(group: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "compact", broken)
    log = PredictionLog(store, batch_rows=1, compact_min_files=2)
    for i in range(6):
        log.submit(batch(f"r{i}", 1))
        assert log.flush(timeout=60)
    log.close()
    assert log.stats.committed_rows == 6 and store.read(SERVED_GROUP).height == 6
    assert "compaction of store/served_predictions failed" in caplog.text and "disk full" in caplog.text


@pytest.mark.parametrize("options", [{"batch_rows": 0}, {"flush_seconds": 0}, {"audit_every_rows": 0},
                                     {"audit_every_seconds": -1}, {"max_pending_requests": 0}, {"compact_min_files": 1},
                                     {"batch_rows": 10, "max_pending_rows": 5}, {"actor": ACTOR}])
def test_bad_options_are_refused(store: FeatureStore, options: dict) -> None:
    with pytest.raises(InputError):
        PredictionLog(store, **options)


def test_a_malformed_batch_is_counted_as_failed_and_the_writer_goes_on(store: FeatureStore) -> None:
    b = batch("bad", 3)
    short = ServedBatch(**{**b.__dict__, "inputs": b.inputs.head(1)})
    log = PredictionLog(store)
    log.submit(short)
    assert log.flush(timeout=60)
    log.submit(batch("good", 2))
    log.close()
    stats = log.stats
    assert (stats.failed_rows, stats.committed_rows) == (3, 2)
    assert store.read(SERVED_GROUP)["request_id"].to_list() == ["good", "good"]
    with pytest.raises(InputError, match="closed"):
        log.submit(batch("late"))


def test_reconcile_recovers_no_entry_per_served_commit(home: Path) -> None:
    from tasks.workspace import Workspace
    from usecases.reconcile import reconcile

    ws = Workspace.open()
    log = PredictionLog.for_workspace(ws, audited=False)
    log.submit(batch("r1", 2))
    log.close()
    assert ws.store.read(SERVED_GROUP).height == 2
    reconcile(ws)
    assert [e.action for e in ws.audit.entries() if e.details.get("recovered")] == []


def _files_holding(folder: Path, value: str) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]


@pytest.mark.parametrize("inline", [False, True])
def test_erasure_removes_an_entitys_served_rows_from_disk(home: Path, inline: bool) -> None:
    from tasks.workspace import Workspace
    from tests.usecases.small import put
    from usecases.erase import erase_entities

    ws = Workspace.open()
    put(ws.store, "activity", [{"customer_id": "C000001", "event_time": 1, "sessions": 1}])
    ws.signing_key()
    log = PredictionLog.for_workspace(ws, audited=False)
    log.submit(batch("r1", 2, customers=["C000001", "C000002"], inline=inline))
    log.submit(batch("r2", 1, customers=["C000001"], inline=inline))
    log.submit(batch("r3", 1))  # no entity: kept
    log.close()
    served = ws.home.store / SERVED_GROUP
    assert _files_holding(served, "C000001")
    result = erase_entities(ws, ["C000001"], reason="request 7")
    assert result.rows_by_group[SERVED_GROUP] == 2
    assert _files_holding(served, "C000001") == []
    rows = ws.store.read(SERVED_GROUP)
    assert sorted(rows["request_id"].to_list()) == ["r1", "r3"] and "C000002" in rows["customer_id"].to_list()


def test_erasure_passes_a_served_table_that_never_held_an_entity_key(home: Path) -> None:
    from tasks.workspace import Workspace
    from tests.usecases.small import put
    from usecases.erase import erase_entities

    ws = Workspace.open()
    put(ws.store, "activity", [{"customer_id": "C000001", "event_time": 1, "sessions": 1}])
    ws.signing_key()
    log = PredictionLog(ws.store)  # no entity keys known: features sent inline only
    log.submit(batch("r1", 2))
    log.close()
    result = erase_entities(ws, ["C000001"], reason="request 8")
    assert result.rows_by_group == {"activity": 1, SERVED_GROUP: 0}
    assert ws.store.read(SERVED_GROUP).height == 2


def test_rows_whose_type_the_table_would_cast_are_refused_and_counted(store: FeatureStore) -> None:
    log = PredictionLog(store)
    log.submit(batch("ints", 2))  # sessions stored as integers
    assert log.flush(timeout=60)
    log.submit(batch("floats", 1, sessions=[1.5]))  # Delta would store 1.5 as 1
    assert log.flush(timeout=60)
    log.submit(batch("ints-again", 1, sessions=[4]))
    log.close()
    assert (log.stats.failed_rows, log.stats.committed_rows) == (1, 3)
    rows = store.read(SERVED_GROUP)
    assert sorted(rows["request_id"].to_list()) == ["ints", "ints", "ints-again"]
    assert sorted(rows["sessions"].to_list()) == [0, 1, 4]


def test_categorical_inputs_are_stored_as_text_batch_after_batch(store: FeatureStore) -> None:
    log = PredictionLog(store)
    for rid, plan in (("a", ["basic", "pro"]), ("b", ["pro", "basic"])):
        b = batch(rid, 2)
        log.submit(ServedBatch(**{**b.__dict__, "inputs": b.inputs.with_columns(
            pl.Series("plan", plan, dtype=pl.Categorical))}))
        assert log.flush(timeout=60)
    log.close()
    assert log.stats.failed_rows == 0
    assert store.read(SERVED_GROUP).sort("request_id", "row")["plan"].to_list() == ["basic", "pro", "pro", "basic"]
