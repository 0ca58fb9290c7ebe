"""kill -9 in the landing watcher between announcing a drop and recording it, and after
recording it: a restarted watcher announces every drop at least once, re-announces only what was
not recorded (with the same event id, so the server sees one event), records every drop once, and
is not blocked by the dead watcher's lock. No Prefect: the emitter is a file the test reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flows.watch import STATE_FILE, Arrival, WatchState, announce_pending

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import os, sys
from pathlib import Path
from flows.watch import announce_pending
sent = Path(sys.argv[3])
def emit(arrival):
    with sent.open("a") as handle:
        handle.write(str(arrival.event_id()) + " " + arrival.sha256 + "\\n")
        handle.flush()
        os.fsync(handle.fileno())
announce_pending(Path(sys.argv[1]), Path(sys.argv[2]), emit)
"""


def run_child(tmp_path: Path, fault: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "landing"), str(tmp_path / "state"),
                           str(tmp_path / "sent.txt")], env=env, cwd=ROOT, timeout=120).returncode


@pytest.mark.parametrize("fault", ["watch.emitted", "watch.recorded"])
def test_kill_between_announcing_and_recording_then_restart(tmp_path: Path, fault: str) -> None:
    for name, data in (("a.csv", b"id\n1\n"), ("b.csv", b"id\n2\n")):
        (tmp_path / "landing" / "g").mkdir(parents=True, exist_ok=True)
        (tmp_path / "landing" / "g" / name).write_bytes(data)
    assert run_child(tmp_path, fault) == -signal.SIGKILL
    sent = [line.split() for line in (tmp_path / "sent.txt").read_text().splitlines()]
    assert len(sent) == 1  # the kill came after the first announcement
    recorded = WatchState.load(tmp_path / "state").announced
    assert set(recorded) == ({sent[0][1]} if fault == "watch.recorded" else set())
    state_file = tmp_path / "state" / STATE_FILE
    assert state_file.exists() is bool(recorded)  # written whole (write_atomic) or not at all

    again: list[Arrival] = []
    announce_pending(tmp_path / "landing", tmp_path / "state", again.append)
    resent = [a for a in again if a.sha256 == sent[0][1]]
    # Not recorded: announced again, under the same event id; recorded: never again.
    assert [str(a.event_id()) for a in resent] == ([sent[0][0]] if fault == "watch.emitted" else [])
    assert len(again) == (2 if fault == "watch.emitted" else 1)
    assert len(WatchState.load(tmp_path / "state").announced) == 2
    assert announce_pending(tmp_path / "landing", tmp_path / "state", again.append) == []
