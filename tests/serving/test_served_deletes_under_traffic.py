"""Erasure and retention of served rows while a server logs traffic: the log commits several times a
second (and compacts), and each delete still lands, because deletes and the log's commits take the
group's write lock (Delta refuses a delete's commit when another writer added files meanwhile:
before the lock, every erasure under traffic failed). Nothing the log accepted is lost or refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from features.served_predictions import RECEIVED_AT, SERVED_GROUP
from features.store import FeatureStore
from serving.prediction_log import PredictionLog
from tests.serving.served_batches import T0, batch


@pytest.fixture
def traffic(tmp_path: Path) -> Iterator[tuple[FeatureStore, PredictionLog]]:
    """A log holding 40 requests of entities C0-C4 (minutes 0-39), then taking new requests every few
    milliseconds (entities E*, minutes 1000+) and committing every 10 ms, compacting every 4 commits."""
    store = FeatureStore(tmp_path / "store")
    log = PredictionLog(store, entity_keys=["customer_id"], batch_rows=2, flush_seconds=0.01,
                        compact_min_files=4, max_pending_rows=10**6)
    for i in range(40):
        log.submit(batch(f"p{i}", 2, customers=[f"C{i % 5}", f"D{i}"], minutes=i))
        assert log.flush(timeout=60)
    stop = threading.Event()

    def serve() -> None:
        i = 0
        while not stop.is_set():
            log.submit(batch(f"r{i}", 2, customers=[f"E{i}", f"F{i}"], minutes=1000 + i))
            i += 1
            time.sleep(0.003)

    thread = threading.Thread(target=serve)
    thread.start()
    time.sleep(0.2)
    yield store, log
    stop.set()
    thread.join()
    log.close()
    stats = log.stats
    assert stats.committed_rows == stats.submitted_rows and stats.failed_rows == stats.dropped_rows == 0


def test_erasure_lands_while_the_server_logs(traffic: tuple[FeatureStore, PredictionLog], tmp_path: Path) -> None:
    _, log = traffic
    eraser = FeatureStore(tmp_path / "store")  # another process's store, as `python -m flows erase`
    for k in range(3):
        assert eraser.delete_entities(SERVED_GROUP, "customer_id", [f"C{k}"]) == 8
    log.flush(timeout=60)
    left = eraser.read(SERVED_GROUP)
    assert set(left.filter(pl.col("customer_id").str.starts_with("C"))["customer_id"]) == {"C3", "C4"}
    assert left.filter(pl.col("customer_id").str.starts_with("E")).height > 0


def test_retention_lands_while_the_server_logs(traffic: tuple[FeatureStore, PredictionLog], tmp_path: Path) -> None:
    other = FeatureStore(tmp_path / "store")
    assert other.delete_before(SERVED_GROUP, RECEIVED_AT, T0 + timedelta(minutes=20)) == 40
    left = other.read(SERVED_GROUP)
    assert left.filter(pl.col(RECEIVED_AT) < T0 + timedelta(minutes=20)).height == 0
    assert left.filter(pl.col("request_id").str.starts_with("p")).height == 40
