"""kill -9 of a process logging served predictions: at each fault point of a commit and with a real
SIGKILL mid-traffic, every acknowledged (committed) row is in the table afterwards, and what is lost
is no more than the documented bound (``max_pending_rows``); the next log appends to the same table."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from features.served_predictions import SERVED_GROUP
from features.store import FeatureStore
from serving.prediction_log import PredictionLog
from tests.serving.served_batches import batch

ROOT = Path(__file__).resolve().parents[2]
BATCH_ROWS, MAX_PENDING = 20, 80
CHILD = f"""
import sys
import threading
from pathlib import Path
from features.store import FeatureStore
from serving.prediction_log import PredictionLog
from tests.serving.served_batches import batch

lock = threading.Lock()

def say(line):  # one write a line, under a lock: the writer thread and the main thread both print
    with lock:
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

def acked(commit):
    say("ack " + " ".join(commit.request_ids))

log = PredictionLog(FeatureStore(Path(sys.argv[1])), batch_rows={BATCH_ROWS}, max_pending_rows={MAX_PENDING},
                    flush_seconds=0.05, on_commit=acked, compact_min_files=int(sys.argv[3]) or None)
limit = int(sys.argv[2])
i = 0
while limit < 0 or i < limit:
    dropped = log.stats.dropped_rows
    log.submit(batch(f"r{{i}}", 5))
    if log.stats.dropped_rows == dropped:
        say(f"sub r{{i}}")
    i += 1
log.close()
"""


def start_child(root: Path, fault: str, limit: int, compact_min_files: int = 0) -> subprocess.Popen[str]:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(limit), str(compact_min_files)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)


def read_lines(child: subprocess.Popen[str], *, until_acks: int | None) -> tuple[set[str], set[str]]:
    """The request ids the child submitted (accepted) and had committed, read from its stdout until it
    ends, or until ``until_acks`` commits were acknowledged."""
    submitted: set[str] = set()
    acked: set[str] = set()
    commits = 0
    assert child.stdout is not None
    while True:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the child printed nothing for 120 s"
        line = child.stdout.readline()
        if not line:
            return submitted, acked
        if not line.endswith("\n"):  # torn by the kill: never acknowledged
            continue
        kind, *ids = line.split()
        (submitted if kind == "sub" else acked).update(ids)
        commits += kind == "ack"
        if until_acks is not None and commits >= until_acks:
            return submitted, acked


def check_after_kill(root: Path, submitted: set[str], acked: set[str]) -> None:
    store = FeatureStore(root)
    stored = set(store.read(SERVED_GROUP)["request_id"]) if store.version(SERVED_GROUP) is not None else set()
    assert acked <= stored, f"acknowledged rows lost: {sorted(acked - stored)[:5]}"
    lost_rows = 5 * len(submitted - stored)
    assert lost_rows <= MAX_PENDING, f"{lost_rows} accepted rows lost, more than the bound {MAX_PENDING}"
    # The table takes the next log's rows after the kill.
    log = PredictionLog(store)
    log.submit(batch("after", 2))
    log.close()
    assert store.read(SERVED_GROUP).filter(pl.col("request_id") == "after").height == 2


@pytest.mark.parametrize("fault", ["prediction_log.before_commit", "prediction_log.committed"])
def test_kill_at_a_commit_loses_no_acknowledged_row_and_at_most_the_bound(tmp_path: Path, fault: str) -> None:
    root = tmp_path / "store"
    child = start_child(root, fault, limit=40)
    submitted, acked = read_lines(child, until_acks=None)
    assert child.wait(timeout=120) == -signal.SIGKILL
    assert submitted and not acked  # killed at the first commit, before its acknowledgement
    check_after_kill(root, submitted, acked)
    store = FeatureStore(root)
    before_after = store.read(SERVED_GROUP).filter(pl.col("request_id") != "after")
    # before_commit: nothing of the batch is stored; committed: the commit stands, unacknowledged.
    assert (before_after.height > 0) == (fault == "prediction_log.committed")


def test_kill_right_after_a_compaction_loses_no_acknowledged_row(tmp_path: Path) -> None:
    # The compaction thread commits beside the writer; killed just after its commit (before its entry).
    root = tmp_path / "store"
    child = start_child(root, "ingest.compacted", limit=-1, compact_min_files=2)
    try:
        submitted, acked = read_lines(child, until_acks=None)
    finally:
        child.kill()
    assert child.wait(timeout=120) == -signal.SIGKILL and len(acked) >= 2
    store = FeatureStore(root)
    assert any(e.get("operation") == "OPTIMIZE" for e in store._table(SERVED_GROUP).history())
    check_after_kill(root, submitted, acked)


def test_a_real_sigkill_mid_traffic_loses_no_acknowledged_row(tmp_path: Path) -> None:
    root = tmp_path / "store"
    child = start_child(root, "", limit=-1)  # submits until killed
    try:
        submitted, acked = read_lines(child, until_acks=3)
        child.send_signal(signal.SIGKILL)
        more_submitted, more_acked = read_lines(child, until_acks=None)  # what it printed before dying
    finally:
        child.kill()
        child.wait(timeout=60)
    submitted |= more_submitted
    acked |= more_acked
    assert len(acked) > 0 and child.returncode == -signal.SIGKILL
    check_after_kill(root, submitted, acked)
