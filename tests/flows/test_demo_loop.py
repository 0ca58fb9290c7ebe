"""The whole loop end to end under Prefect's test harness: ingestion with quarantine, a first
champion, drift found after the generator's shift, the event-triggered retrain gated against
the champion, signed versions, and an audit trail that verifies."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.flow


def test_every_drop_is_accounted_for(demo_run) -> None:
    reports = [r for stage in demo_run.ingests for r in stage.reports]
    assert reports, "the demo ingested nothing"
    for r in reports:
        assert r.rows_in == r.rows_stored + r.rows_quarantined, r
    quarantined = sum(r.rows_quarantined for r in reports)
    assert quarantined >= demo_run.planted_bad_rows > 0
    assert (demo_run.home / "quarantine").is_dir() and any((demo_run.home / "quarantine").rglob("*"))


def test_first_model_becomes_champion_and_drift_triggers_a_gated_retrain(demo_run) -> None:
    first = demo_run.trainings[0]
    assert first.status == "accepted" and first.promoted and first.champion_version is None
    assert 0.6 < first.metrics["auc"] <= 1.0
    assert demo_run.monitor.drifted, "the generator's shift after day 60 must be found"
    assert "labelled scores" in demo_run.monitor.performance  # v1's batch scores met later labels
    flows_run = [(d.event, d.flow) for d in demo_run.dispatched]
    assert ("driftline.drift.detected", "retrain") in flows_run
    assert ("driftline.model.promoted", "score") in flows_run
    retrained = demo_run.trainings[1]
    assert retrained.version == 2 and retrained.champion_version == 1
    assert retrained.champion_metrics is not None  # gated against the champion on the same holdout
    report = json.loads((demo_run.home / "registry" / "churn" / "2" / "gate_report.json").read_text())
    assert report["champion"] == "churn:v1"
    assert any("champion" in c["name"].lower() for c in report["checks"])


def test_versions_carry_lineage_and_verify(demo_run) -> None:
    from tasks.workspace import Workspace

    registry = Workspace.open(demo_run.home).registry
    results = registry.verify_all()
    assert [type(r).__name__ for _, r in results] == ["VerifiedModel"] * len(results) and len(results) == 2
    meta = registry.get("churn", 1).metadata
    assert set(meta["data"]["delta_versions"]) == {"churn_labels", "customer_activity", "customer_billing"}
    assert len(meta["data"]["training_set_sha256"]) == 64
    assert meta["gate_report_sha256"] and meta["search"]["trials"] >= 1
    # The demo's overrides (6 trials, not the default 20) reached the drift-dispatched retrain too.
    assert [registry.get("churn", v).metadata["search"]["trials"] for v in (1, 2)] == [6, 6]


def test_audit_trail_covers_every_stage_and_verifies(demo_run) -> None:
    assert demo_run.audit.ok, demo_run.audit.problem
    lines = (demo_run.home / "audit" / "log.jsonl").read_text().splitlines()
    actions = {json.loads(line)["action"] for line in lines}
    assert {"ingest", "quarantine", "gate.decision", "model.register", "model.promote",
            "drift.verdict", "model.score", "key.init"} <= actions
    assert demo_run.audit.unsigned_tail == 0, "every flow run ends with a signed checkpoint"


def test_a_duplicate_drift_event_does_not_train_twice(demo_run, monkeypatch) -> None:
    from flows.train import retrain_flow

    monkeypatch.setenv("DRIFTLINE_HOME", str(demo_run.home))
    key = demo_run.monitor.window
    assert retrain_flow(idempotency_key=key) is None
    from tasks.workspace import Workspace

    assert len(Workspace.open(demo_run.home).registry.versions("churn")) == 2


def test_a_retrain_with_nothing_new_is_skipped_audited_and_recorded(demo_run, monkeypatch) -> None:
    from flows.idempotency import already_done
    from flows.train import retrain_flow
    from tasks.workspace import Workspace
    from usecases.outcomes import RetrainSkipped

    monkeypatch.setenv("DRIFTLINE_HOME", str(demo_run.home))
    ws = Workspace.open(demo_run.home)
    champion = ws.registry.alias("churn", "champion")
    assert champion == 2  # the drift retrain was promoted, and no data arrived since
    lineage = ws.registry.get("churn", 2).metadata["data"]
    assert lineage["as_known"] is False and lineage["newest_label_time"].startswith("2026-")

    outcome = retrain_flow(idempotency_key="nothing-new")  # a new event, but the same training set
    assert isinstance(outcome, RetrainSkipped) and outcome.champion_version == 2
    assert "identical to champion v2" in outcome.reason
    assert outcome.training_set_sha256 == lineage["training_set_sha256"]
    assert len(ws.registry.versions("churn")) == 2
    skipped = [e for e in ws.audit.entries() if e.action == "model.retrain_skipped"]
    assert [e.details["reason"] for e in skipped] == [outcome.reason] and skipped[0].subject == "model:churn"
    assert already_done(ws.home, "retrain", "nothing-new")  # a repeat of this event is not even decided again
