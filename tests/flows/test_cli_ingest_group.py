"""``python -m flows ingest FILE|FOLDER --group NAME`` as a user meets it: a per-group summary
(stored, quarantined, the most common reasons, the quarantine folder), and for the inputs a user
can fix (a misspelt column, an unreadable time column, a group without a contract, a folder with
no data files, ``--group`` without files) one line on stderr naming the column or file and the
fix, exit 2, and nothing half-written: no Delta commit, no staging folder.

Each command starts Prefect's temporary server (seconds): the refusals checked before Prefect
starts are answered at once, the rest share one data home and run once each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.flow
HEADER = "customer_id,event_time,sessions,minutes_active,pages_per_session,support_tickets,device"


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("DRIFTLINE_CONTRACTS_DIR", None)
    env.pop("PREFECT_LOGGING_LEVEL", None)  # an in-process CLI test of this session may have set it
    return subprocess.run([sys.executable, "-m", "flows", "--home", str(home), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def csv(folder: Path, name: str, *rows: str, header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return folder / name


def row(customer: str, day: str = "2024-01-01T00:00:00Z", sessions: str = "3") -> str:
    return ",".join([customer, day, sessions, "12.5", "2.0", "0", "mobile"])


def nothing_written(home: Path) -> bool:
    store = home / "store"
    return not (store / "customer_activity").exists() and not list(store.glob(".staging-*"))


def test_refusals_before_prefect_starts(tmp_path: Path) -> None:
    home, empty = tmp_path / "home", tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    one_line_error(cli(home, "ingest", str(empty), "--group", "customer_activity"), "empty holds no data files",
                   ".csv")
    one_line_error(cli(home, "ingest", "--group", "customer_activity"), "--group customer_activity",
                   "FILE|FOLDER")
    assert not home.exists()  # answered before the data home was opened


def test_ingest_a_group_summary_and_the_item_8_refusals(tmp_path: Path) -> None:
    home, exports = tmp_path / "home", tmp_path / "exports"
    # A group without a contract: refused by name before anything is written.
    bad_group = csv(tmp_path / "x", "a.csv", row("C000001"))
    one_line_error(cli(home, "ingest", str(bad_group), "--group", "nosuch"), "'nosuch'", "contract infer")
    assert nothing_written(home)
    # A misspelt column: the file is refused naming it and the declared name; exit 2.
    misspelt = csv(tmp_path / "y", "m.csv", row("C000001"), header=HEADER.replace("customer_id", "customerid"))
    one_line_error(cli(home, "ingest", str(misspelt), "--group", "customer_activity"),
                   "m.csv", "customer_id", "rename 'customerid' to 'customer_id'", "every file was refused")
    assert nothing_written(home)
    # An event-time column of which no value reads: refused naming the column and the format.
    us = csv(tmp_path / "z", "us.csv", row("C000001", day="03/01/2024 10:00"), row("C000002", day="03/02/2024 10:00"))
    one_line_error(cli(home, "ingest", str(us), "--group", "customer_activity"), "'event_time'", "ISO-8601")
    assert nothing_written(home)
    # A folder of good and bad rows: stored, with the per-group summary; exit 0.
    csv(exports, "b.csv", row("C000003"), row("C000004", sessions="-1"), row("C000005", sessions="-2"))
    csv(exports, "a.csv", row("C000001"), row("C000002"))
    done = cli(home, "ingest", str(exports), "--group", "customer_activity")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "customer_activity: 2 file(s), 3 rows stored, 2 quarantined" in done.stdout
    assert "most common reasons: sessions: below min 0 (2)" in done.stdout
    assert f"quarantine: {home.resolve() / 'quarantine' / 'customer_activity'}" in done.stdout
    # Every row quarantined: exit 2, one line, and the audit trail still records the quarantine.
    worse = csv(tmp_path / "w", "w.csv", row("C000009", sessions="-1"))
    one_line_error(cli(home, "ingest", str(worse), "--group", "customer_activity"),
                   "all 1 row(s) were quarantined", "sessions: below min 0")
    verified = cli(home, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    log = (home / "audit" / "log.jsonl").read_text()
    assert log.count('"action":"quarantine"') >= 4  # the misspelt, the unreadable times, b.csv, w.csv
