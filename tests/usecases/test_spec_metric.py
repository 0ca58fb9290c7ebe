"""A model spec's metric decides the champion comparison and is the search's objective."""

from __future__ import annotations

import numpy as np

from driftline.settings import GateSettings, Settings
from governance.gates import Evidence
from tasks.training import search_config
from tasks.workspace import Workspace
from usecases import train as uc
from usecases.models import ModelSpec


def _evidence(candidate_mae: float) -> Evidence:
    y = np.arange(40, dtype=float)
    return Evidence(candidate={"rmse": 1.0, "mae": candidate_mae}, champion={"rmse": 1.0, "mae": 0.5},
                    y_true=y, candidate_scores=y, champion_scores=y, training_rows=5000, quarantine_share=0.0,
                    model_size_bytes=10, latency_ms_per_1k=1.0, task="regression", baseline=10.0)


def test_the_spec_metric_decides_the_champion_comparison() -> None:
    worse_mae = _evidence(0.9)
    default = uc.decide_gate(GateSettings(), worse_mae, candidate="c", champion="m:v1")
    assert default.decision_metric == "rmse" and "mae vs champion" not in {c.name for c in default.checks}
    report = uc.decide_gate(GateSettings(), worse_mae, candidate="c", champion="m:v1", metric="l1")
    assert report.decision_metric == "mae" and not report.passed
    (versus,) = [c for c in report.checks if c.name == "mae vs champion"]
    assert not versus.passed and versus.observed == 0.9


def test_a_metric_the_holdout_lacks_keeps_the_task_default() -> None:
    assert uc.gate_metric("binary", "average_precision") == "auc"
    assert uc.gate_metric("multiclass", "multi_logloss") == "logloss"


def test_the_spec_metric_is_the_search_objective(tmp_path) -> None:
    spec = ModelSpec(name="acct", task="regression", label_group="accounts", label_column="tier",
                     feature_groups=("accounts",), metric="mae")
    ws = Workspace(Settings(home=tmp_path), spec)
    assert search_config(ws, "regression", "s").metric == "mae"
    assert search_config(Workspace(Settings(home=tmp_path)), "regression", "s").metric is None
