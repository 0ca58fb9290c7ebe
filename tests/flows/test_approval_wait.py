"""The pool's wait for a person, without a pool: ``pause_flow_run`` stands in for the paused run's
form (tests/integration/test_approval.py resumes a real one). A timeout records a rejection, an
unlisted approver is asked again, and a decision made with `registry approve` meanwhile stands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.exceptions import FlowPauseTimeout

from flows import approval_wait
from tasks.workspace import Workspace
from tests.usecases.candidates import PASSPHRASE, gate_report
from tests.usecases.test_approval import add
from usecases.approval import TIMED_OUT, decide


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("DRIFTLINE_ACTOR", "worker")
    ws = Workspace.open()
    add(ws, "2")
    return ws


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(approval_wait, "emit", lambda event, res, payload: seen.append((event, dict(payload))))
    monkeypatch.setattr(approval_wait, "on_pool", lambda: True)
    return seen


def answers(monkeypatch: pytest.MonkeyPatch, *given: dict[str, str] | None, then: Any = None) -> list[str]:
    """Each pause returns the next answer (None: the pause times out); ``then`` runs after the first."""
    keys: list[str] = []
    queue: Iterator[dict[str, str] | None] = iter(given)

    def pause(*, wait_for_input: Any, timeout: int, key: str) -> Any:
        keys.append(key)
        assert timeout > 0 and "Approve churn v1?" in (wait_for_input._description or "")
        answer = next(queue)
        if then is not None and len(keys) == 1:
            then()
        if answer is None:
            raise FlowPauseTimeout("timed out")
        return approval_wait.ApprovalInput(**answer)

    monkeypatch.setattr(approval_wait, "pause_flow_run", pause)
    return keys


def wait(ws: Workspace) -> approval_wait.Waited:
    version = ws.registry.get("churn", 1)
    need = ws.registry.approval_state("churn", 1).requirement
    return approval_wait.wait_for_approval(ws, version, gate_report(), need)


def test_a_timeout_records_a_rejection(ws: Workspace, events: list, monkeypatch: pytest.MonkeyPatch) -> None:
    answers(monkeypatch, None)
    assert wait(ws) == approval_wait.Waited("rejected")
    decision = ws.registry.approval_state("churn", 1).decision
    assert decision is not None and (decision.reason, decision.approver) == (TIMED_OUT, "worker")
    assert [e for e, _ in events] == ["driftline.approval.requested", "driftline.approval.decided"]


def test_an_unlisted_approver_is_asked_again(ws: Workspace, events: list, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = answers(monkeypatch, {"decision": "approve", "reason": "me", "approver": "mallory"},
                   {"decision": "approve", "reason": "fine", "approver": "bo"})
    assert wait(ws) == approval_wait.Waited("approved")
    assert len(set(keys)) == 2  # each pause has its own key, or Prefect would not pause again
    assert all(re.fullmatch(r"[a-z0-9-]+", k) for k in keys)  # what Prefect takes in a pause's input keys
    decision = ws.registry.approval_state("churn", 1).decision
    assert decision is not None and (decision.approver, decision.reason) == ("bo", "fine")
    assert events[-1][1]["approver"] == "bo"


def test_a_decision_made_meanwhile_stands(ws: Workspace, events: list, monkeypatch: pytest.MonkeyPatch) -> None:
    answers(monkeypatch, {"decision": "approve", "reason": "late", "approver": "ana"},
            then=lambda: decide(ws, "churn", 1, approve=False, reason="from the CLI", approver="bo"))
    assert wait(ws) == approval_wait.Waited("rejected", here=False)  # the run promotes nothing itself
    decision = ws.registry.approval_state("churn", 1).decision
    assert decision is not None and (decision.approver, decision.reason) == ("bo", "from the CLI")


def test_local_mode_leaves_it_pending(ws: Workspace, events: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approval_wait, "on_pool", lambda: False)
    assert wait(ws) == approval_wait.Waited("pending")
    assert ws.registry.approval_state("churn", 1).status == "pending"
    assert events[0][1]["command"] == "python -m flows registry approve churn 1 --reason TEXT"


def test_the_pool_waits_only_until_the_signed_deadline(ws: Workspace, events: list,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The pause's timeout is what is left of created_at + 72 h, as every reader counts it; past it
    the run records the timed-out rejection without pausing."""
    import driftline.clock

    real = driftline.clock.utc_now()
    timeouts: list[int] = []

    def pause(*, wait_for_input: Any, timeout: int, key: str) -> Any:
        timeouts.append(timeout)
        raise FlowPauseTimeout("timed out")

    monkeypatch.setattr(approval_wait, "pause_flow_run", pause)
    monkeypatch.setattr(driftline.clock, "utc_now", lambda: real + timedelta(hours=71.5))
    assert wait(ws) == approval_wait.Waited("rejected")
    assert len(timeouts) == 1 and 0 < timeouts[0] <= 1800
    with monkeypatch.context() as m:
        m.setattr(driftline.clock, "utc_now", lambda: real)
        add(ws, "3")
    monkeypatch.setattr(driftline.clock, "utc_now", lambda: real + timedelta(hours=80))
    version = ws.registry.get("churn", 2)
    need = ws.registry.approval_state("churn", 2).requirement
    assert approval_wait.wait_for_approval(ws, version, gate_report(), need) == approval_wait.Waited("rejected")
    assert len(timeouts) == 1  # no second pause
    assert ws.registry.approval_state("churn", 2).decision.reason == TIMED_OUT  # type: ignore[union-attr]
