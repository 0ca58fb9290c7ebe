"""Local mode's boundary (issue 13): ``run_local`` returns a typed :class:`LocalRun`, and the data
home and settings overrides reach the first flow and every flow its events dispatch as parameters,
with nothing written into the environment. The CLI's ``--trials`` and ``--home`` arrive the same way.

The flows here are stand-ins (plain functions): the runner's wiring is under test, not Prefect.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import flows.local as local
from flows.cli import main
from flows.events import _ACTIVE_BUS, QueuedEvent, resource
from flows.local import Dispatched, LocalRun, run_local
from flows.triggers import DRIFT_DETECTED
from usecases.outcomes import TrainOutcome

OVERRIDES = {"training": {"n_trials": 3}, "gate": {"max_ece": 0.1}}


def _no_driftline_variables() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("DRIFTLINE_")}


def test_home_and_overrides_reach_the_first_flow_and_every_dispatched_one(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def monitor(**kwargs: Any) -> str:
        calls.append(("monitor", kwargs))
        bus = _ACTIVE_BUS.get()
        assert bus is not None
        payload = {"model": "churn", "window_key": "w1"}
        bus.queue.append(QueuedEvent(DRIFT_DETECTED, resource("model", "churn"), payload))
        return "monitored"

    def retrain(**kwargs: Any) -> None:
        calls.append(("retrain", kwargs))
        return None  # a skipped duplicate

    monkeypatch.setattr(local, "load_flow", {"monitor": monitor, "retrain": retrain}.__getitem__)
    before = _no_driftline_variables()
    run = run_local("monitor", home="/data/home", overrides=OVERRIDES, window_days=7)

    passed = {"home": "/data/home", "overrides": OVERRIDES}
    assert calls == [("monitor", {**passed, "window_days": 7}),
                     ("retrain", {**passed, "model": "churn", "idempotency_key": "w1"})]
    retrain_run = Dispatched(DRIFT_DETECTED, "retrain-on-drift", "retrain", {"model": "churn", "idempotency_key": "w1"},
                             None)
    assert run == LocalRun("monitor", "monitored", (retrain_run,))
    assert run.result_as(str) == "monitored"
    assert run.results_of("retrain") == []  # a skipped retrain has no outcome to report
    with pytest.raises(TypeError, match="flow 'monitor' returned str, expected int"):
        run.result_as(int)
    assert _no_driftline_variables() == before


def _outcome() -> TrainOutcome:
    return TrainOutcome(model="churn", version=1, status="candidate", promoted=False, metrics={"auc": 0.5},
                        champion_version=None, champion_metrics=None, reasons=(), training_rows=3,
                        holdout_rows=1, gate_report="r.html")


def test_cli_flags_are_passed_down_not_written_into_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import flows.cli_runs as cli_runs

    seen: list[dict[str, Any]] = []

    def fake_run_local(name: str, **kwargs: Any) -> LocalRun:
        seen.append({"name": name, **{k: v for k, v in kwargs.items() if k != "on_dispatch"}})
        return LocalRun(name, _outcome())

    # No lifeline watchdog or Prefect console set-up: only what the command hands to the runner.
    monkeypatch.setattr(cli_runs, "_prepare_prefect", lambda args: None)
    monkeypatch.setattr(local, "run_local", fake_run_local)
    monkeypatch.delenv("DRIFTLINE_HOME", raising=False)
    monkeypatch.delenv("DRIFTLINE_TRAINING__N_TRIALS", raising=False)
    before = _no_driftline_variables()

    assert main(["train", "--trials", "5", "--model", "churn", "--home", str(tmp_path)]) == 0
    assert seen == [{"name": "train", "home": str(tmp_path), "overrides": {"training": {"n_trials": 5}},
                     "model": "churn", "reason": "manual"}]
    assert "churn v1: candidate" in capsys.readouterr().out
    assert _no_driftline_variables() == before


def test_the_demo_defaults_yield_to_the_environment_and_the_flags_win_over_both() -> None:
    from flows.demo import demo_overrides

    assert demo_overrides({}, {}) == {"training": {"max_rounds": 300}, "gate": {"slice_columns": ["plan", "region"]}}
    # An explicit DRIFTLINE_* variable wins over the demo's own default (the settings read it)...
    assert demo_overrides({}, {"DRIFTLINE_TRAINING__MAX_ROUNDS": "50", "DRIFTLINE_GATE__SLICE_COLUMNS": "[]"}) == {}
    # ...and a flag wins over everything, without dropping the demo's other defaults.
    assert demo_overrides({"training": {"n_trials": 6}}, {}) == {
        "training": {"max_rounds": 300, "n_trials": 6}, "gate": {"slice_columns": ["plan", "region"]}}
