"""A rejected candidate is visible in the Prefect UI without opening an artifact: the flow run's
state message (read back through the Prefect client) says the verdict and its reasons, the local
bus records ``driftline.gate.decided`` with the model, version and verdict, and the run published
the trials table, the lineage and the search progress named for the model and version."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def rejected(demo_run):
    """One more train on the demo's home with a floor no model reaches: a rejected candidate."""
    from flows.events import local_bus
    from flows.train import train_flow

    # Another seed: a model of its own (the same bytes would be the registered v2 found again).
    overrides = {"training": {"n_trials": 6, "seed": 1234}, "gate": {"max_ece": 0.1, "min_auc": 0.999}}
    with local_bus() as bus:
        state = train_flow(home=str(demo_run.home), overrides=overrides, reason="ui test", return_state=True)
    return state, list(bus.queue)


def test_the_run_state_message_says_rejected_and_why(rejected) -> None:
    from prefect.client.orchestration import get_client

    state, _ = rejected
    outcome = state.result()
    assert outcome.status == "rejected" and not outcome.promoted  # callers still get the outcome
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state.is_completed()
    message = run.state.message
    assert message.startswith(f"churn v{outcome.version}: rejected against champion v")
    assert "0.999" in message and all(reason in message for reason in outcome.reasons)


def test_gate_decided_carries_model_version_and_verdict(rejected) -> None:
    state, events = rejected
    outcome = state.result()
    decided = [e for e in events if e.event == "driftline.gate.decided"]
    assert len(decided) == 1
    event = decided[0]
    assert event.payload["model"] == "churn" and event.payload["version"] == outcome.version
    assert event.payload["verdict"] == "reject" and list(event.payload["reasons"]) == list(outcome.reasons)
    assert event.resource["prefect.resource.name"] == f"churn v{outcome.version}"
    registered = [e for e in events if e.event == "driftline.model.registered"]
    assert registered[0].resource["prefect.resource.name"] == f"churn v{outcome.version}"


def test_trials_lineage_and_progress_artifacts_name_the_model_and_version(rejected) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    state, _ = rejected
    outcome = state.result()
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    by_key = {a.key: a for a in arts}
    trials = by_key["optuna-trials-churn"]
    assert f"churn v{outcome.version}" in trials.description
    import json
    rows = json.loads(trials.data) if isinstance(trials.data, str) else trials.data
    assert rows[0]["best"] == "best" and sum(r["best"] == "best" for r in rows) == 1
    assert all(r["auc"] is None for r in rows if r["state"] != "complete")
    lineage = by_key["lineage-churn"]
    assert f"Lineage of churn v{outcome.version} (rejected)" in lineage.data
    assert "ui test" in lineage.data and "training set sha256" in lineage.data
    progress = by_key["search-progress-churn"]
    assert progress.type == "progress" and "churn" in progress.description and "/" in progress.description
