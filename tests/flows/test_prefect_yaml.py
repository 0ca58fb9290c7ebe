"""deployments/prefect.yaml is the rendering of the deployment and trigger tables, and says what
the pool needs: every catalogued flow deployed, the right schedules and Jinja parameters."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.catalog import FLOWS
from flows.cli import main
from flows.serve import DEPLOYMENTS, POOL, render_prefect_yaml
from flows.triggers import DATA_ARRIVED, DRIFT_DETECTED, MODEL_PROMOTED, TRIGGERS

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "deployments" / "prefect.yaml"


def _deployments() -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))["deployments"]}


def test_committed_file_equals_the_rendering():
    assert COMMITTED.read_text(encoding="utf-8") == render_prefect_yaml(), \
        "run: python -m flows deployments render --write"


def test_every_catalogued_flow_is_deployed_once_on_the_pool():
    deployed = _deployments()
    assert sorted(deployed) == sorted(FLOWS) == sorted(d.flow for d in DEPLOYMENTS)
    for name, spec in deployed.items():
        assert spec["entrypoint"] == FLOWS[name]
        assert spec["work_pool"]["name"] == POOL
        assert "home" not in str(spec.get("parameters", {})), "the data home comes from DRIFTLINE_HOME"


def test_schedules_and_triggers_are_the_ones_asked_for():
    d = _deployments()
    expect = {name: [t["expect"][0] for t in spec["triggers"]] for name, spec in d.items()}
    assert expect == {"ingest": [DATA_ARRIVED], "monitor": [], "retrain": [DRIFT_DETECTED],
                      "score": [MODEL_PROMOTED], "audit-export": [], "enforce-retention": [], "train": [],
                      "search-worker": []}
    crons = {name: [s["cron"] for s in spec["schedules"]] for name, spec in d.items()}
    assert crons["train"] == [] and crons["search-worker"] == []
    assert crons["ingest"] == ["30 * * * *"]          # hourly sweep of drops still waiting
    assert crons["monitor"] == ["0 * * * *"]          # hourly
    assert crons["retrain"][0].endswith("* * 1")       # weekly, Mondays
    assert crons["score"] == ["0 5 * * *"]            # daily
    assert crons["audit-export"][0].split()[2:4] == ["1", "*"]  # monthly, on the 1st
    assert crons["enforce-retention"] == ["0 2 * * *"]  # daily


def test_trigger_parameters_are_the_tables_jinja_templates():
    by_name = {t["name"]: t for spec in _deployments().values() for t in spec["triggers"]}
    assert sorted(by_name) == sorted(t.deployment for t in TRIGGERS)
    for trigger in TRIGGERS:
        spec = by_name[trigger.deployment]
        assert spec["match"] == dict(trigger.match)
        assert spec["parameters"] == trigger.prefect_templates()
    assert by_name["ingest-on-arrival"]["parameters"] == {"paths": "{{ event.payload.paths }}"}


def test_prefect_accepts_the_trigger_specs():
    # The same validation `prefect deploy` applies to the `triggers:` section.
    from prefect.events import DeploymentEventTrigger

    for spec in _deployments().values():
        for t in spec["triggers"]:
            trigger = DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
            assert trigger.expect == set(t["expect"])


def test_a_changed_table_is_caught(tmp_path, capsys):
    stale = tmp_path / "prefect.yaml"
    stale.write_text(render_prefect_yaml().replace("0 * * * *", "*/5 * * * *"), encoding="utf-8")
    assert main(["deployments", "render", "--check", "--file", str(stale)]) == 3
    assert "differs" in capsys.readouterr().err
    assert main(["deployments", "render", "--write", "--file", str(stale)]) == 0
    assert main(["deployments", "render", "--check", "--file", str(stale)]) == 0


def test_serve_and_watch_refuse_without_a_server(monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for command in (["serve"], ["watch", "--once"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "PREFECT_API_URL is not set" in err


def test_schedules_run_for_every_declared_model_with_its_own_retrain_cron():
    from flows.serve import render_document
    from usecases.models import DEMO_SPEC, ModelSpec

    upsell = ModelSpec(name="upsell", task="regression", label_group="accounts", label_column="spend",
                       feature_groups=("accounts",), schedule="15 2 * * *")
    d = {spec["name"]: spec for spec in render_document(models=(DEMO_SPEC, upsell))["deployments"]}
    runs = {name: [(s["cron"], s.get("parameters")) for s in spec["schedules"]] for name, spec in d.items()}
    assert runs["monitor"] == [("0 * * * *", {"model": "churn"}), ("0 * * * *", {"model": "upsell"})]
    assert runs["retrain"] == [("0 3 * * 1", {"model": "churn"}), ("15 2 * * *", {"model": "upsell"})]
    assert runs["score"] == [("0 5 * * *", {"model": "churn"}), ("0 5 * * *", {"model": "upsell"})]
    assert runs["ingest"] == [("30 * * * *", None)] and runs["audit-export"][0][1] is None
    assert len({s["slug"] for s in d["retrain"]["schedules"]}) == 2  # Prefect keys a deployment's schedules by slug


def test_model_events_pass_their_model_to_retrain_and_score():
    from flows.events import resource
    from flows.triggers import triggers_for

    drift = triggers_for(DRIFT_DETECTED, resource("model", "upsell", version="3"))
    assert [(t.flow, t.render(resource("model", "upsell"), {"model": "upsell", "window_key": "w1"}))
            for t in drift] == [("retrain", {"model": "upsell", "idempotency_key": "w1"})]
    promoted = triggers_for(MODEL_PROMOTED, resource("model", "upsell", version="3"))
    assert [(t.flow, t.render({}, {"model": "upsell"})) for t in promoted] == [("score", {"model": "upsell"})]


def test_render_declared_schedules_the_models_of_the_data_home(tmp_path, capsys):
    # What deployments/pool.py deploys: the committed file knows the demo's model only.
    from usecases.models import DEMO_SPEC, ModelSpec, save_spec

    home = tmp_path / "home"
    billing = ModelSpec(name="billing", task="binary", label_group="churn_labels", label_column="churned",
                        feature_groups=("customer_billing",), schedule="15 2 * * *")
    for spec in (DEMO_SPEC, billing):
        save_spec(spec, home / "models")
    target = tmp_path / "pool.yaml"
    argv = ["--home", str(home), "deployments", "render", "--declared"]
    assert main([*argv, "--write", "--file", str(target)]) == 0
    d = {spec["name"]: spec for spec in yaml.safe_load(target.read_text(encoding="utf-8"))["deployments"]}
    runs = {name: [(s["cron"], s.get("parameters")) for s in spec["schedules"]] for name, spec in d.items()}
    assert runs["retrain"] == [("15 2 * * *", {"model": "billing"}), ("0 3 * * 1", {"model": "churn"})]
    assert runs["monitor"] == [("0 * * * *", {"model": "billing"}), ("0 * * * *", {"model": "churn"})]
    assert main([*argv, "--check", "--file", str(target)]) == 0
    assert main(["--home", str(home), "deployments", "render", "--check", "--file", str(target)]) == 3
    capsys.readouterr()


def test_render_declared_refuses_a_broken_spec_in_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "billing.toml").write_text('name = "billing"\ntask = "ranking"\n', encoding="utf-8")
    target = tmp_path / "pool.yaml"
    assert main(["--home", str(home), "deployments", "render", "--declared", "--write", "--file", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "billing" in err and not target.exists()


def test_a_kill_while_rendering_leaves_the_old_file_whole(tmp_path):
    import os
    import subprocess
    import sys

    from flows.cli_ops import RENDER_FAULT

    target = tmp_path / "pool.yaml"
    target.write_text("old\n", encoding="utf-8")
    argv = [sys.executable, "-m", "flows", "--home", str(tmp_path / "home"), "deployments", "render", "--write",
            "--file", str(target)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "DRIFTLINE_FAULT": RENDER_FAULT}
    killed = subprocess.run(argv, env=env, cwd=REPO, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    assert target.read_text(encoding="utf-8") == "old\n"
    env.pop("DRIFTLINE_FAULT")
    assert subprocess.run(argv, env=env, cwd=REPO, capture_output=True).returncode == 0
    assert target.read_text(encoding="utf-8") == render_prefect_yaml()
