"""Local mode: a passing candidate of a model whose spec asks for approval is registered and left
pending, not promoted. The run's state message and log say how to decide, the bus carries
``driftline.approval.requested``; `registry approve` then promotes it, and the audit trail names
who decided."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.demo_data import generate_demo
from usecases.models import DEMO_SPEC, ModelSpec, save_spec

pytestmark = pytest.mark.flow

LENIENT = {"min_auc": 0.0, "max_logloss": 10.0, "max_ece": 1.0, "min_training_rows": 0,
           "max_latency_ms_per_1k": 1e9, "max_quarantine_share": 1.0}


def test_a_passing_candidate_waits_for_approval_in_local_mode(tmp_path: Path, prefect_harness,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client

    from flows.events import local_bus
    from flows.local import run_local
    from flows.train import train_flow
    from tasks.workspace import Workspace
    from usecases.approval import decide, pending

    home = tmp_path / "home"
    source = tmp_path / "source"
    drop = generate_demo(source, seed=5, customers=150, days=40, shift_day=40)
    for path in drop.paths(1, 40):
        target = home / "landing" / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    spec = ModelSpec.from_dict({**DEMO_SPEC.to_dict(), "trials": 2, "gate": LENIENT, "approval": True,
                                "approvers": ["ana"]})
    save_spec(spec, home / "models")
    run_local("ingest", home=str(home))

    with local_bus() as bus:
        state = train_flow(home=str(home), model="churn", reason="approval test", return_state=True)
    outcome = state.result()
    assert (outcome.status, outcome.approval, outcome.promoted) == ("accepted", "pending", False)
    with get_client(sync_client=True) as client:
        message = client.read_flow_run(state.state_details.flow_run_id).state.message
    assert message == (f"churn v{outcome.version} waits for approval: python -m flows registry approve "
                       f"churn {outcome.version} --reason ...")
    requested = [e for e in bus.queue if e.event == "driftline.approval.requested"]
    assert [e.payload["approvers"] for e in requested] == [["ana"]]
    assert not [e for e in bus.queue if e.event == "driftline.model.promoted"]

    ws = Workspace.for_model(home, "churn")
    assert ws.registry.alias("churn", "champion") is None
    assert [w.version for w in pending(ws)] == [outcome.version]
    monkeypatch.setenv("DRIFTLINE_ACTOR", "ana")
    decide(Workspace.for_model(home, "churn"), "churn", outcome.version, approve=True, reason="ok", promote=True)
    assert ws.registry.load("churn", "champion").version == outcome.version
    approvals = [e for e in ws.audit.entries() if e.action == "model.approve"]
    assert [(e.details["approver"], e.details["reason"]) for e in approvals] == [("ana", "ok")]
