"""The monitor's performance in each task's own terms: a regression champion's labelled predictions
give RMSE and MAE beside the holdout's, a multiclass champion's its accuracy (its stored predicted
class against the label) beside the holdout's; never an AUC, which the old line printed for
every task (and the labels of those tasks were refused as "labels must be 0 or 1")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from governance.audit import AuditLog
from monitoring.drift import DriftPolicy
from monitoring.labels import LabelledScores
from monitoring.performance import measure_performance, performance_line
from monitoring.profile import build_profile
from registry.layout import REFERENCE_PROFILE as PROFILE_FILE
from registry.versions import ModelVersion
from tests.usecases.small import ACTOR, CONTRACTS, LABELS, PARAMS, put, tiny_frame
from training.model import TrainedModel, fit_final
from usecases.monitor import current_window, monitor_champion
from usecases.score import predict, row_scores, score_latest

HORIZON = timedelta(days=7)


def _fit(task: str, values: list) -> TrainedModel:
    frame = tiny_frame().with_columns(pl.Series("y", values))
    return fit_final(frame, features=["sessions"], categorical=[], label="y", task=task, params=PARAMS,
                     num_boost_round=20, seed=1, n_threads=1)


def _monitor(tmp_path: Path, store, model: TrainedModel, metrics: dict, labels: list) -> str:
    folder = tmp_path / "registry" / "m" / "1"
    model.save(folder)
    train = tiny_frame()
    (folder / PROFILE_FILE).write_bytes(build_profile(train, numeric=["sessions"], categorical=[],
                                                      predictions=row_scores(model, predict(model, train))).to_json())
    champion = ModelVersion("m", 1, folder, "accepted", {"metrics": metrics}, "2026-05-01T00:00:00Z", "k")
    put(store, "activity", [{"customer_id": f"c{i}", "event_time": i, "sessions": i} for i in range(12)])
    audit = AuditLog(tmp_path / "audit")
    score_latest(store, CONTRACTS, ["activity"], champion, audit=audit, actor=ACTOR, state=tmp_path / "state")
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": 20, "y": y} for i, y in enumerate(labels)])
    window = current_window(store, CONTRACTS, ["activity"], 7)
    result = monitor_champion(store, LABELS, champion, window, policy=DriftPolicy(), label_horizon=HORIZON,
                              reports=tmp_path / "reports", audit=audit, actor=ACTOR)
    (entry,) = [e for e in audit.entries() if e.action == "drift.verdict"]
    assert entry.details["performance"] == result.drift.performance
    return result.performance


def test_a_regression_champion_is_judged_by_rmse_and_mae(tmp_path, store) -> None:
    model = _fit("regression", [10 * i for i in range(12)])
    labels = [10 * i + (3 if i % 2 else -3) for i in range(12)]  # each off the truth by 3
    line = _monitor(tmp_path, store, model, {"rmse": 2.0, "mae": 1.5}, labels)
    assert "AUC" not in line
    assert line.startswith("RMSE ") and "on 12 labelled predictions (holdout RMSE 2.000, MAE 1.500)" in line
    frame = pl.DataFrame({"sessions": list(range(12))})
    expected = float(np.sqrt(np.mean((model.predict(frame) - np.array(labels)) ** 2)))
    assert f"RMSE {expected:.4g}," in line


def test_a_multiclass_champion_is_judged_by_its_accuracy(tmp_path, store) -> None:
    model = _fit("multiclass", [1] * 4 + [2] * 4 + [3] * 4)
    frame = pl.DataFrame({"sessions": list(range(12))})
    predicted = model.predict_labels(frame).tolist()
    labels = [*predicted[:9], *(1 if p != 1 else 2 for p in predicted[9:])]  # the last three wrong
    line = _monitor(tmp_path, store, model, {"accuracy": 0.9, "logloss": 0.3}, labels)
    assert line == "accuracy 0.750 on 12 labelled predictions (holdout 0.900)"


def test_performance_per_task_on_plain_arrays() -> None:
    reg = measure_performance(LabelledScores([1.0, 2.0, np.nan], [1.5, 2.5, 9.0], task="regression"),
                              {"rmse": 0.25})
    assert reg == {"labelled_rows": 2.0, "rmse_current": 0.5, "mae_current": 0.5, "rmse_reference": 0.25,
                   "rmse_rise": 0.25}
    assert performance_line(reg) == ("RMSE 0.5, MAE 0.5 on 2 labelled predictions (holdout RMSE 0.250, "
                                      "MAE n/a)")
    multi = measure_performance(LabelledScores([0, 1, 2, 2], [0, 1, 1, 2], task="multiclass"), {"accuracy": 1.0})
    assert multi == {"labelled_rows": 4.0, "accuracy_current": 0.75, "accuracy_reference": 1.0,
                     "accuracy_drop": 0.25}
    binary = measure_performance(LabelledScores([0, 1], [0.2, 0.8]), {"auc": 0.9})
    assert performance_line(binary) == "AUC 1.000 on 2 labelled scores (holdout 0.900)"
    assert performance_line(None) == "no labels have arrived for the champion's batch scores yet"


def test_bad_labelled_scores_are_refused_per_task() -> None:
    with pytest.raises(InputError, match="class codes") as caught:
        LabelledScores([0.5, 1.0], [0.0, 1.0], task="multiclass")
    assert caught.value.hint
    with pytest.raises(InputError, match="0 or 1"):
        LabelledScores([2.0], [0.5])
    with pytest.raises(InputError, match="unknown task 'ranking'"):
        LabelledScores([1.0], [1.0], task="ranking")
    assert LabelledScores([1234.5], [1200.0], task="regression").rows == 1  # any value of a regression
