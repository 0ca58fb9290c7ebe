"""Declared models end to end: ``train --model`` declares a spec on first use and reuses it after,
and two declared models train side by side in one data home, each version carrying its spec signed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driftline.errors import ConfigError, InputError, IntegrityError
from flows.cli import _parser
from flows.cli_runs import _declare
from flows.demo_data import generate_demo
from usecases.models import DEMO_SPEC, ModelSpec, load_spec


def _args(home: Path, *argv: str):
    return _parser().parse_args(["--home", str(home), "train", *argv])


def test_train_model_flags_declare_on_first_use_then_the_spec_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _declare(_args(home)) is None  # no --model: the settings' model, as before specs
    assert _declare(_args(home, "--model", "churn")) == "churn"  # the demo's default: no file written
    assert not (home / "models").exists()
    name = _declare(_args(home, "--model", "billing", "--group", "churn_labels", "--label", "churned",
                          "--features", "customer_billing", "--exclude", "plan", "--trials", "3"))
    spec = load_spec(home / "models" / "billing.toml")
    assert (name, spec.task, spec.feature_groups, spec.exclude, spec.trials) == (
        "billing", "binary", ("customer_billing",), ("plan",), 3)  # task from the label contract
    assert _declare(_args(home, "--model", "billing", "--trials", "5")) == "billing"  # a run flag, not a change
    assert load_spec(home / "models" / "billing.toml") == spec
    with pytest.raises(ConfigError, match="the flags ask for label_column 'plan'"):
        _declare(_args(home, "--model", "billing", "--label", "plan"))
    with pytest.raises(ConfigError, match="excluded column"):
        _declare(_args(home, "--model", "other", "--group", "churn_labels", "--label", "churned", "--exclude", "nah"))
    with pytest.raises(InputError, match="name it"):
        _declare(_args(home, "--group", "churn_labels"))
    with pytest.raises(InputError, match="'nobody' is not declared"):
        _declare(_args(home, "--model", "nobody"))
    assert sorted(p.name for p in (home / "models").iterdir()) == ["billing.toml"]  # refusals wrote nothing


def test_two_declared_models_train_side_by_side(tmp_path: Path, prefect_harness) -> None:
    from flows.local import run_local
    from tasks.workspace import Workspace
    from usecases.models import save_spec
    from usecases.outcomes import TrainOutcome

    home = tmp_path / "home"
    source = tmp_path / "source"
    drop = generate_demo(source, seed=3, customers=150, days=40, shift_day=40)
    for path in drop.paths(1, 40):
        target = home / "landing" / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    # Small data: a lenient gate, so both may promote; the gate's verdict is not what is tested here.
    lenient = {"min_auc": 0.0, "max_logloss": 10.0, "max_ece": 1.0, "min_training_rows": 0,
               "max_latency_ms_per_1k": 1e9, "max_quarantine_share": 1.0}
    save_spec(ModelSpec.from_dict({**DEMO_SPEC.to_dict(), "trials": 2, "gate": lenient}), home / "models")
    billing = ModelSpec(name="billing", task="binary", label_group="churn_labels", label_column="churned",
                        feature_groups=("customer_billing",), trials=3, gate=lenient, drift={"window_days": 9},
                        intended_use="Flag <script>x</script> accounts | for the billing team.",
                        limitations="Demo data only.")
    save_spec(billing, home / "models")
    run_local("ingest", home=str(home))

    outcomes = {name: run_local("train", home=str(home), model=name).result_as(TrainOutcome)
                for name in ("churn", "billing")}
    assert {o.model for o in outcomes.values()} == {"churn", "billing"}
    ws = Workspace.for_model(home, "billing")
    assert (ws.settings.feature_groups, ws.settings.training.n_trials, ws.settings.drift.window_days) == (
        ("customer_billing",), 3, 9)
    for name, outcome in outcomes.items():
        recorded = ws.registry.get(name, outcome.version).metadata["model_spec"]
        assert ModelSpec.from_dict(recorded) == load_spec(home / "models" / f"{name}.toml")
        ws.registry.load(name, outcome.version)  # verified as it is

    # The model card: signed with the version, its facts from the run (spec texts, data, gate).
    billing_version = ws.registry.get("billing", outcomes["billing"].version)
    assert {"model_card.md", "model_card.html"} <= set(ws.registry.verify("billing", billing_version.version).resources)
    card = (billing_version.path / "model_card.md").read_text()
    data = billing_version.metadata["data"]
    for fact in (f"# Model card: billing v{billing_version.version}", "Flag &lt;script>x&lt;/script> accounts | for",
                 "Demo data only.", f"| customer_billing | {data['delta_versions']['customer_billing']} |",
                 f"training rows: {data['training_rows']}",
                 f"label times: {data['oldest_label_time']} to {data['newest_label_time']}",
                 f"verdict: {'promote' if outcomes['billing'].promoted else 'reject'}",
                 f"signed by key: {billing_version.key_id}"):
        assert fact in card, fact
    assert "<script" not in (billing_version.path / "model_card.html").read_text()

    # Tamper: the recorded spec is under the signature; one changed value and the version is refused.
    path = ws.registry.get("billing", outcomes["billing"].version).path / "metadata.json"
    text = path.read_text()
    assert '"trials":3' in text or '"trials": 3' in text
    path.write_text(text.replace('"trials":3', '"trials":4').replace('"trials": 3', '"trials": 4'))
    with pytest.raises(IntegrityError):
        ws.registry.load("billing", outcomes["billing"].version)


@pytest.mark.parametrize("command", ["monitor", "score"])
def test_an_undeclared_model_is_refused_before_prefect_starts(tmp_path: Path, command: str) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    # Prefect, once started, writes its home: refused before it starts, the folder never appears.
    env = {**os.environ, "PYTHONPATH": str(repo), "PREFECT_HOME": str(tmp_path / "prefect")}
    proc = subprocess.run([sys.executable, "-m", "flows", "--home", str(tmp_path / "home"), command,
                           "--model", "nobody"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model 'nobody' is not declared" in lines[0] and "train --model nobody" in lines[0]
    assert not (tmp_path / "prefect").exists()
