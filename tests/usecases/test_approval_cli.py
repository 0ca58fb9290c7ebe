"""`registry approve|reject|pending` as a user meets them: a table of what waits, one line per
decision, the champion moved by an approval, and one-line refusals with their exit codes (2 for an
unlisted approver or a second decision, 3 for a tampered record); `registry list` says pending."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tasks.workspace import Workspace
from tests.usecases.test_approval import add, record_path
from usecases.promotion import promote_version

ROOT = Path(__file__).resolve().parents[2]


def flows(*args: str, actor: str = "ana") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIFTLINE_ACTOR": actor}
    env.pop("DRIFTLINE_FAULT", None)
    return subprocess.run([sys.executable, "-m", "flows", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert needle in result.stderr, result.stderr


@pytest.fixture
def ws(home: Path) -> Workspace:
    ws = Workspace.open()
    add(ws, "1", spec=None)
    promote_version(ws, "churn", 1, reason="first")
    add(ws, "2")
    add(ws, "3")
    return ws


def test_pending_approve_and_reject(ws: Workspace) -> None:
    waiting = flows("registry", "pending")
    assert waiting.returncode == 0, waiting.stderr
    rows = [line.split() for line in waiting.stdout.splitlines() if line.startswith("churn")]
    assert [r[1] for r in rows] == ["2", "3"] and all("ana," in r for r in rows)
    assert "pending" in flows("registry", "list").stdout

    done = flows("registry", "approve", "churn", "2", "--reason", "reviewed the gate")
    assert done.returncode == 0, done.stderr
    assert "churn v2: approved by ana (reviewed the gate)" in done.stdout and "champion -> v2" in done.stdout
    done = flows("registry", "reject", "churn", "3", "--reason", "bias on region", actor="bo")
    assert done.returncode == 0 and "churn v3: rejected by bo" in done.stdout, done.stderr
    assert "no version waits" in flows("registry", "pending").stdout
    shown = json.loads(flows("registry", "show", "churn", "3").stdout)["approval"]
    assert (shown["status"], shown["decision"]["approver"], shown["decision"]["reason"]) == (
        "rejected", "bo", "bias on region")

    ws = Workspace.open()
    assert ws.registry.alias("churn", "champion") == 2
    decisions = [(e.action, e.details["approver"], e.actor["user"]) for e in ws.audit.entries()
                 if e.action in ("model.approve", "model.reject")]
    assert decisions == [("model.approve", "ana", "ana"), ("model.reject", "bo", "bo")]


def test_refusals_are_one_line_with_their_exit_codes(ws: Workspace) -> None:
    one_line_error(flows("registry", "approve", "churn", "2", "--reason", "me", actor="mallory"), 2,
                   "'mallory' is not an approver")
    one_line_error(flows("registry", "promote", "churn", "2"), 2, "waits for approval")
    assert flows("registry", "reject", "churn", "2", "--reason", "no").returncode == 0
    one_line_error(flows("registry", "approve", "churn", "2", "--reason", "again"), 2, "rejected already")
    assert flows("registry", "approve", "churn", "3").returncode == 2  # --reason is required
    path = record_path(ws, 2)
    path.write_bytes(path.read_bytes().replace(b'"rejected"', b'"approved"'))
    one_line_error(flows("registry", "promote", "churn", "2"), 3, "approval record")
    one_line_error(flows("registry", "verify", "churn", "2"), 3, "approval record")
    assert flows("registry", "verify", "--all").returncode == 3
    assert "unverified" in flows("registry", "list").stdout


def test_approving_after_a_deleted_rejection_is_exit_3(ws: Workspace) -> None:
    assert flows("registry", "reject", "churn", "2", "--reason", "no", actor="bo").returncode == 0
    record_path(ws, 2).unlink()
    one_line_error(flows("registry", "approve", "churn", "2", "--reason", "yes"), 3, "decision record deleted")
    one_line_error(flows("registry", "verify", "churn", "2"), 3, "decision record deleted")
    assert "unverified" in flows("registry", "list").stdout
    restored = flows("registry", "reject", "churn", "2", "--reason", "again", actor="bo")
    assert restored.returncode == 0 and "restored from audit entry" in restored.stdout, restored.stderr
    assert flows("registry", "verify", "churn", "2").returncode == 0


def test_an_expired_version_is_listed_as_such_and_cannot_be_approved(ws: Workspace,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import driftline.clock

    real = driftline.clock.utc_now()
    with monkeypatch.context() as m:
        m.setattr(driftline.clock, "utc_now", lambda: real - timedelta(hours=100))
        old = add(ws, "4")  # signed created_at 100 h ago: past the default 72 h
    waiting = flows("registry", "pending")
    rows = {line.split()[1]: line.split() for line in waiting.stdout.splitlines() if line.startswith("churn")}
    assert rows[str(old)][5] == "expired" and rows["2"][5] == "waits", waiting.stdout
    one_line_error(flows("registry", "approve", "churn", str(old), "--reason", "late"), 2, "approval timed out")
    assert "rejected" in flows("registry", "list").stdout
    done = flows("registry", "reject", "churn", str(old), "--reason", "stale", actor="bo")
    assert done.returncode == 0 and f"churn v{old}: rejected by bo (stale)" in done.stdout, done.stderr
    assert str(old) not in [line.split()[1] for line in flows("registry", "pending").stdout.splitlines()
                            if line.startswith("churn")]


def test_expire_command(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import driftline.clock

    real = driftline.clock.utc_now()
    with monkeypatch.context() as m:
        m.setattr(driftline.clock, "utc_now", lambda: real - timedelta(hours=100))
        old = add(ws, "4")
    done = flows("registry", "expire", actor="ops")
    assert done.returncode == 0 and f"churn v{old}: rejected (approval timed out), recorded by ops" in done.stdout
    assert "1 timed-out version(s)" in done.stdout, done.stdout + done.stderr
    assert "no version is past" in flows("registry", "expire", "churn").stdout
    shown = json.loads(flows("registry", "show", "churn", str(old)).stdout)["approval"]
    assert (shown["status"], shown["decision"]["reason"]) == ("rejected", "approval timed out")
