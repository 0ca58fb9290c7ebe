"""``python -m flows serving compare``: prints the comparison of a real home's served traffic (two
registered versions, each with its own threshold) without importing Prefect; a kill between the report
and its entry leaves no entry pointing at a missing report; bad command lines exit 2 in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from governance.audit import AuditLog
from serving.prediction_log import PredictionLog
from tasks.workspace import Workspace
from tests.serving.served_batches import batch
from tests.usecases.candidates import PASSPHRASE, gate_report, lineage
from tests.usecases.small import tiny_fit
from usecases.promotion import promote_version
from usecases.registration import register_candidate
from usecases.serving_compare import check_report

ROOT = Path(__file__).resolve().parents[2]
CHAMPION = [0.1, 0.6, 0.7, 0.2]
SHADOW = [0.2, 0.9, 0.4, 0.1]
RUN = """
import sys
from flows.cli import main
rc = main(sys.argv[1:])
bad = [m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')]
print('PREFECT' if bad else 'CLEAN', rc)
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """churn v1 (threshold 0.65, the champion) and v2 (threshold 0.3), served in shadow on one request."""
    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("DRIFTLINE_KEY_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("DRIFTLINE_FAULT", raising=False)
    ws = Workspace.open()
    for seed, threshold in (("1", 0.65), ("2", 0.3)):
        folder = tmp_path / f"model-{seed}"
        tiny_fit(int(seed)).save(folder)
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        meta = lineage(seed)
        register_candidate(ws, files=files, lineage={**meta, "metrics": {**meta["metrics"], "threshold": threshold}},
                           report=gate_report())
    promote_version(ws, "churn", 1, reason="first")
    log = PredictionLog(ws.store)
    log.submit(batch("r1", 4, scores=CHAMPION, version=1, decision=False))
    log.submit(batch("r1", 4, scores=SHADOW, version=2, role="challenger", returned=False, decision=False))
    log.close()
    return home


def run(args: list[str], fault: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIFTLINE_FAULT": fault}
    return subprocess.run([sys.executable, "-c", RUN, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=180)


def test_the_command_prints_the_comparison_at_each_versions_threshold_without_prefect(home: Path) -> None:
    done = run(["serving", "compare", "--model", "churn"])
    assert done.returncode == 0 and done.stdout.strip().endswith("CLEAN 0"), done.stdout + done.stderr
    # v1 at 0.65: 0,0,1,0; v2 at 0.3: 0,1,1,0 -> 3 of 4 agree
    assert "agreement 75.00% on 4 paired rows" in done.stdout and "champion v1: 4 rows" in done.stdout
    entry = [e for e in AuditLog(home / "audit").entries() if e.action == "serving.compare"][-1]
    assert check_report(entry.details, home / "reports").is_file()


@pytest.mark.parametrize("fault", ["compare.report.staged", "compare.report.replaced"])
def test_a_kill_around_the_report_leaves_no_entry_naming_a_missing_report(home: Path, fault: str) -> None:
    done = run(["serving", "compare", "--model", "churn"], fault=fault)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert [e for e in AuditLog(home / "audit").entries() if e.action == "serving.compare"] == []
    reports = sorted(p.name for p in (home / "reports").glob("serving-compare-*.html"))
    assert len(reports) == (1 if fault == "compare.report.replaced" else 0)
    again = run(["serving", "compare", "--model", "churn"])
    assert again.returncode == 0, again.stdout + again.stderr
    (entry,) = [e for e in AuditLog(home / "audit").entries() if e.action == "serving.compare"]
    check_report(entry.details, home / "reports")


COMPARE = ["serving", "compare", "--model"]


@pytest.mark.parametrize("args, needle", [
    (["serving"], "serving compare"), (["serving", "compare"], "--model"), ([*COMPARE, "nope"], "nope"),
    ([*COMPARE, "churn", "--since", "soon"], "date"), ([*COMPARE, "churn", "--tolerance", "-1"], "0 or more"),
    ([*COMPARE, "churn", "--since", "2030-01-01"], "empty")])
def test_bad_command_lines_exit_2_in_one_line(home: Path, args: list[str], needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", "flows", *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr, done.stderr
