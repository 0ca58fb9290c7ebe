"""The retrain ledger (flows.idempotency) survives kill -9: a record acknowledged by mark_done is
never lost (its line and, on creation, its folder are fsynced), a torn last line is skipped by
readers and cut by the next append, and a key is never recorded twice. No Prefect harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.errors import InputError
from driftline.home import DataHome
from flows.idempotency import already_done, mark_done

ROOT = Path(__file__).resolve().parents[2]
KEY = "churn:v3:2024-05-01"
CHILD = """
import sys
from driftline.home import DataHome
from flows.idempotency import mark_done
mark_done(DataHome(sys.argv[1]), "retrain", sys.argv[2], {"version": 4})
"""


def run_child(home: DataHome, key: str, fault: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, str(home.root), key], env=env, cwd=ROOT,
                          timeout=120).returncode


def records(home: DataHome) -> list[dict]:
    return [json.loads(line) for line in (home.state / "retrain.jsonl").read_bytes().splitlines()]


@pytest.fixture
def home(tmp_path: Path) -> DataHome:
    home = DataHome(tmp_path)
    mark_done(home, "retrain", "churn:v2:2024-04-01", {"version": 3})
    return home


@pytest.mark.parametrize("fault", ["idempotency.locked", "idempotency.appended"])
def test_kill_during_mark_done_then_rerun_records_the_key_once(home: DataHome, fault: str) -> None:
    assert run_child(home, KEY, fault) == -signal.SIGKILL
    acknowledged = fault == "idempotency.appended"
    assert already_done(home, "retrain", KEY) is acknowledged
    if not acknowledged:  # the flow's rerun repeats the work, then records it
        mark_done(home, "retrain", KEY, {"version": 4})
    mark_done(home, "retrain", KEY, {"version": 4})  # a duplicate event that also ran to the end
    assert [r["key"] for r in records(home)] == ["churn:v2:2024-04-01", KEY]


def test_a_torn_last_line_is_skipped_and_then_cut(home: DataHome) -> None:
    path = home.state / "retrain.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"at": "2024-05-01T00:00:00+00:00", "key": "churn:v3:2')
    assert already_done(home, "retrain", "churn:v2:2024-04-01")
    assert not already_done(home, "retrain", KEY)
    mark_done(home, "retrain", KEY, {"version": 4})
    assert path.read_bytes().startswith(whole)
    assert [r["key"] for r in records(home)] == ["churn:v2:2024-04-01", KEY]


def test_a_bad_complete_line_is_an_input_error_naming_it(home: DataHome) -> None:
    path = home.state / "retrain.jsonl"
    path.write_bytes(path.read_bytes() + b"not json\n")
    with pytest.raises(InputError, match="line 2"):
        already_done(home, "retrain", KEY)


def test_the_line_and_the_new_folder_entry_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    home = DataHome(tmp_path)
    mark_done(home, "retrain", KEY, {"version": 4})
    assert synced == ["retrain.jsonl", "state"]
    mark_done(home, "retrain", "another", {"version": 5})
    assert synced[2:] == ["retrain.jsonl"]  # the folder entry exists already
