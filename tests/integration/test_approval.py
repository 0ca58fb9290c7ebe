"""Human approval on the pool: a model whose spec requires approval is trained twice through the
``train`` deployment; each run pauses after its passing gate with the approval form, and is resumed
through Prefect's API (``POST /flow_runs/{id}/resume`` with ``run_input``, what the UI's form and
``prefect.flow_runs.resume_flow_run`` send). The first is approved by ana and becomes champion; the
second is first answered by an unlisted name (refused: the run pauses again) and then rejected by
bo. The champion stays the first, and the audit trail names both decisions and who made them. A
third is approved with ``registry approve`` while it waits: the command resumes the paused run,
which completes at once with that decision (one decision in the trail) and the version is champion.

Uses conftest.py's shared pool. The data is the demo's days 1-60 with test_pool.py's generator and
seed, so whichever of the two lands them first, the other's drops are duplicates.

Run: .venv/bin/python -m pytest -m integration tests/integration/test_approval.py -s
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import _ts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
MODEL = "gated"
LENIENT = {"min_auc": 0.0, "max_logloss": 10.0, "max_ece": 1.0, "min_training_rows": 0,
           "max_latency_ms_per_1k": 1e9, "max_quarantine_share": 1.0}


def _flows(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flows", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"flows {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _wait_state(api, run_id: str, wanted: str, timeout_s: float, *, after: float = 0.0) -> dict:
    """The run once it is in state type ``wanted`` (entered after ``after``, server clock)."""
    deadline = time.monotonic() + timeout_s
    run: dict = {}
    while time.monotonic() < deadline:
        run = api.get(f"/flow_runs/{run_id}")
        state = run.get("state") or {}
        if run["state_type"] == wanted and _ts(state.get("timestamp", "1970-01-01T00:00:00+00:00")) > after:
            return run
        assert run["state_type"] not in ("FAILED", "CRASHED", "CANCELLED"), f"run {run['name']} ended {run['state']}"
        time.sleep(1)
    raise AssertionError(f"run {run_id} not {wanted} within {timeout_s:.0f} s (last: {run.get('state_type')})")


def _resume(api, run_id: str, run_input: dict) -> None:
    """Resume with the form's input; the input's schema is saved just after the pause: retry a moment."""
    deadline = time.monotonic() + 60
    while True:
        answer = api.post(f"/flow_runs/{run_id}/resume", {"run_input": run_input})
        if answer and answer.get("status") == "ACCEPT":
            return
        assert time.monotonic() < deadline, f"resume of {run_id} refused: {answer}"
        time.sleep(1)


def _train(api, seed: int) -> str:
    deployment = api.get("/deployments/name/train/train")
    body = {"parameters": {"model": MODEL, "reason": f"approval test {seed}",
                           "overrides": {"training": {"n_trials": 3, "seed": seed}}}}
    return api.post(f"/deployments/{deployment['id']}/create_flow_run", body)["id"]


def test_one_promotion_approved_and_one_rejected_through_the_api(pool, monkeypatch, tmp_path):
    from flows.demo_data import generate_demo
    from tasks.workspace import Workspace
    from usecases.models import DEMO_SPEC, ModelSpec, save_spec

    env, api, home = pool["env"], pool["api"], pool["home"]
    source = tmp_path / "approval-source"  # outside the home: a command refuses a home holding strange folders
    drop = generate_demo(source, customers=400, seed=7)  # test_pool.py's data: its drops 1-60 are these
    for path in drop.paths(1, 60):
        target = home / "landing" / path.relative_to(source)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    _flows(env, "ingest")
    spec = ModelSpec.from_dict({**DEMO_SPEC.to_dict(), "name": MODEL, "gate": LENIENT, "approval": True,
                                "approvers": ["ana", "bo"], "approval_timeout_hours": 1})
    save_spec(spec, home / "models")

    first = _train(api, seed=101)
    paused = _wait_state(api, first, "PAUSED", 600)
    _resume(api, first, {"decision": "approve", "reason": "gate report reviewed", "approver": "ana"})
    _wait_state(api, first, "COMPLETED", 300)
    assert "promoted" in api.get(f"/flow_runs/{first}")["state"]["message"]

    second = _train(api, seed=202)
    paused = _wait_state(api, second, "PAUSED", 600)
    _resume(api, second, {"decision": "approve", "reason": "me", "approver": "mallory"})
    again = _wait_state(api, second, "PAUSED", 120, after=_ts(paused["state"]["timestamp"]))
    _resume(api, second, {"decision": "reject", "reason": "bias on region", "approver": "bo"})
    done = _wait_state(api, second, "COMPLETED", 300, after=_ts(again["state"]["timestamp"]))
    assert "rejected by its approver" in done["state"]["message"]

    for key, value in env.items():  # read the home as the pool's processes do (witness, keys)
        if key.startswith("DRIFTLINE_"):
            monkeypatch.setenv(key, value)
    ws = Workspace.open(str(home))
    versions = {v.version: ws.registry.approval_state(MODEL, v.version) for v in ws.registry.versions(MODEL)}
    assert [s.status for s in versions.values()] == ["accepted", "rejected"]
    approved = next(n for n, s in versions.items() if s.status == "accepted")
    assert ws.registry.alias(MODEL, "champion") == approved
    decisions = [(e.action, e.subject, e.details["approver"], e.details["reason"], e.actor.get("flow_run_id"))
                 for e in ws.audit.entries() if e.action in ("model.approve", "model.reject")]
    assert [d[:4] for d in decisions] == [
        ("model.approve", f"model:{MODEL}:v{approved}", "ana", "gate report reviewed"),
        ("model.reject", f"model:{MODEL}:v{approved + 1}", "bo", "bias on region")]
    assert [d[4] for d in decisions] == [first, second]  # each decision names the run it resumed

    # A third run decided with the command instead of the form: the command resumes the paused run,
    # which ends at once with the command's decision (and promotes nothing itself: the command did).
    third = _train(api, seed=303)
    _wait_state(api, third, "PAUSED", 600)
    number = max(v.version for v in ws.registry.versions(MODEL))
    out = _flows({**env, "DRIFTLINE_ACTOR": "ana"}, "registry", "approve", MODEL, str(number), "--reason",
                 "reviewed on the command line")
    assert "resumed the pool run" in out, out
    done = _wait_state(api, third, "COMPLETED", 120)
    assert done["state"]["message"].startswith(f"{MODEL} v{number}: promoted"), done["state"]["message"]
    ws = Workspace.open(str(home))
    assert ws.registry.alias(MODEL, "champion") == number
    decided = [e for e in ws.audit.entries() if e.action == "model.approve" and e.subject == f"model:{MODEL}:v{number}"]
    assert [e.details["approver"] for e in decided] == ["ana"]  # one decision: the run's own was refused
    _flows(env, "audit", "verify")  # the chain, its checkpoints and the witness hold
