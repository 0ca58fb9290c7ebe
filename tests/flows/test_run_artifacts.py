"""What a training run shows in the UI, built without Prefect running: the trials table (sorted,
rounded, best marked, pruned scores left out), the lineage markdown, the state message of a
rejected candidate, readable event resources and the deployments' parameter forms."""

from __future__ import annotations

import dataclasses

import pytest

from flows.events import group_resource, model_resource, resource
from tasks.run_artifacts import artifact_key, best_trial, lineage_markdown, trials_table
from training.search import SearchResult, TrialRecord
from usecases.outcomes import RetrainSkipped, TrainOutcome


def _result(direction: str = "maximize") -> SearchResult:
    trials = (
        TrialRecord(0, "COMPLETE", 0.712345678, {"learning_rate": 0.0312345678, "num_leaves": 31}, {}, 1.23456, 40),
        TrialRecord(1, "PRUNED", 0.9, {"learning_rate": 0.2, "num_leaves": 15}, {10: 0.9}, 0.5, None),
        TrialRecord(2, "COMPLETE", 0.801, {"learning_rate": 0.05, "num_leaves": 63}, {}, 2.0, 55),
        TrialRecord(3, "RUNNING", None, {"learning_rate": 0.1, "num_leaves": 7}, {}, None, None),
    )
    best = max if direction == "maximize" else min
    return SearchResult(best_params=dict(trials[2].params), best_value=best(0.712345678, 0.801), best_iteration=55,
                        metric="auc", direction=direction, trials=trials, study_name="churn-abcdef012345",
                        storage="journal://x", device="cpu", n_completed=2, n_pruned=1)


def test_trials_are_sorted_best_first_rounded_and_the_best_is_marked() -> None:
    rows = trials_table(_result())
    assert [r["trial"] for r in rows] == [2, 0, 1, 3]  # completed best first, then pruned, then running
    assert [r["best"] for r in rows] == ["best", "", "", ""]
    assert rows[1]["auc"] == 0.7123 and rows[1]["learning_rate"] == 0.0312 and rows[1]["seconds"] == 1.23
    assert rows[1]["num_leaves"] == 31  # integers stay integers


def test_a_pruned_trials_score_is_left_out() -> None:
    rows = {r["trial"]: r for r in trials_table(_result())}
    # 0.9 is a pruned trial's last intermediate report: higher than every real score, and not one.
    assert rows[1]["state"] == "pruned" and rows[1]["auc"] is None
    assert rows[3]["auc"] is None and rows[3]["seconds"] is None


def test_a_minimized_metric_sorts_the_other_way() -> None:
    rows = trials_table(_result("minimize"))
    assert [r["trial"] for r in rows][:2] == [0, 2] and rows[0]["best"] == "best"
    assert best_trial(_result("minimize")).number == 0


def test_artifact_keys_are_what_prefect_accepts() -> None:
    assert artifact_key("optuna-trials", "Churn_EU.v2") == "optuna-trials-churn-eu-v2"


def test_lineage_names_data_commit_params_reason_and_champions() -> None:
    lineage = {"reason": "drift: churn:v1:w3", "data": {"delta_versions": {"labels": 4, "activity": 7},
                                                        "training_set_sha256": "ab" * 32},
               "code": {"git_commit": "0123abc", "dirty": False},
               "search": {"study": "churn-abc", "trials": 6, "params": {"learning_rate": 0.0312345}}}
    md = lineage_markdown("churn", 2, lineage, status="rejected", champion_before=1, champion_after=1,
                          reasons=("AUC 0.70 is below the floor 0.99",))
    for expected in ("churn v2 (rejected)", "drift: churn:v1:w3", "ab" * 32, "`0123abc`", "| activity | 7 |",
                     "| learning_rate | 0.0312 |", "**champion before**: v1; **after**: v1", "below the floor"):
        assert expected in md, expected


def _outcome(promoted: bool) -> TrainOutcome:
    return TrainOutcome(model="churn", version=3, status="accepted" if promoted else "rejected", promoted=promoted,
                        metrics={"auc": 0.7}, champion_version=2, champion_metrics={"auc": 0.8},
                        reasons=() if promoted else ("AUC dropped 0.1 against the champion", "ECE 0.2 > 0.1"),
                        training_rows=10, holdout_rows=5, gate_report="r.html")


def test_the_state_message_says_the_verdict_and_its_reasons() -> None:
    from flows.train import state_message

    assert state_message(_outcome(False)) == ("churn v3: rejected against champion v2: "
                                              "AUC dropped 0.1 against the champion; ECE 0.2 > 0.1")
    assert state_message(_outcome(True)) == "churn v3: promoted against champion v2"
    assert "retrain skipped: same data" in state_message(RetrainSkipped("churn", "same data", 2, "f" * 64))
    passed = dataclasses.replace(_outcome(True), promoted=False)
    assert state_message(dataclasses.replace(passed, approval="rejected")) == (
        "churn v3: passed the gate against champion v2, rejected by its approver")
    assert state_message(dataclasses.replace(passed, approval="approved")) == (  # registry approve --no-promote
        "churn v3: passed the gate against champion v2, approved, not promoted")


def test_event_resources_carry_readable_names() -> None:
    assert model_resource("churn", 3)["prefect.resource.name"] == "churn v3"
    assert model_resource("churn", 3)["prefect.resource.id"] == "driftline.model.churn"  # triggers match on it
    assert model_resource("churn")["prefect.resource.name"] == "model churn"
    assert group_resource("customer_activity", 4)["prefect.resource.name"] == "customer_activity (Delta v4)"
    assert resource("file", "ab12", title="day-61.parquet")["prefect.resource.name"] == "day-61.parquet"


@pytest.mark.parametrize("name", ["ingest", "train", "retrain", "search-worker", "monitor", "score", "audit-export"])
def test_deployment_parameters_are_described_defaulted_and_home_is_not_offered(name: str) -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.catalog import load_flow

    schema = parameter_schema(load_flow(name)).model_dump()
    props = schema["properties"]
    assert "home" not in props, "the data home comes from DRIFTLINE_HOME, not a run parameter"
    for param, spec in props.items():
        assert spec.get("description"), f"{name}: parameter {param!r} has no description"
    # search-worker's study is the training run's: it is only ever started with both, never by hand.
    required = {"search-worker": ["versions", "worker"]}.get(name, [])
    assert sorted(schema.get("required", [])) == required
    assert all("default" in spec for p, spec in props.items() if p not in required)


def test_a_flow_still_takes_home_in_local_mode() -> None:
    import inspect

    from flows.catalog import load_flow

    assert "home" in inspect.signature(load_flow("train").fn).parameters


def test_automations_have_descriptions() -> None:
    import yaml

    from tests.flows.test_prefect_yaml import COMMITTED

    triggers = [t for d in yaml.safe_load(COMMITTED.read_text())["deployments"] for t in d["triggers"]]
    assert triggers and all(len(t["description"]) > 30 for t in triggers)
