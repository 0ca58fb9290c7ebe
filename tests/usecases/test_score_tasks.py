"""Batch scores per task: a binary model's rows carry its decision at the threshold stored in its
schema, a multiclass model's rows its predicted class and that class's probability (one score a
row, never the matrix flattened), a regression model's rows the value."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from features import predictions as P
from features.predictions import predictions_frame
from governance.audit import AuditLog
from registry.versions import ModelVersion
from tests.usecases.small import ACTOR, CONTRACTS, PARAMS, T0, put, tiny_fit, tiny_frame
from training.model import TrainedModel, fit_final
from usecases.score import predict, score_latest

SCORED_AT = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
ROWS = [{"customer_id": f"c{i}", "event_time": i, "sessions": i} for i in range(12)]


def _score(tmp_path: Path, store, model: TrainedModel) -> pl.DataFrame:
    folder = tmp_path / "registry" / "m" / "1"
    model.save(folder)
    put(store, "activity", ROWS)
    version = ModelVersion("m", 1, folder, "accepted", {}, "2026-05-01T00:00:00Z", "k")
    score_latest(store, CONTRACTS, ["activity"], version, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                 state=tmp_path / "state", clock=lambda: SCORED_AT)
    return store.read(P.PREDICTIONS_GROUP).sort("customer_id")


def _fit(task: str, label: str, values: list) -> TrainedModel:
    frame = tiny_frame().with_columns(pl.Series(label, values))
    return fit_final(frame, features=["sessions"], categorical=[], label=label, task=task, params=PARAMS,
                     num_boost_round=5, seed=1, n_threads=1)


def test_binary_rows_carry_the_decision_at_the_stored_threshold(tmp_path, store) -> None:
    # the tiny model scores rows about 0.10 or 0.90: at 0.5 half are positive, at 0.95 none
    stored = _score(tmp_path, store, tiny_fit().with_threshold(0.95))
    scores = np.asarray(stored[P.SCORE].to_list())
    assert (scores >= 0.5).sum() == 6
    assert stored[P.DECISION].to_list() == [0] * 12


def test_binary_rows_of_a_model_saved_without_threshold_decide_at_one_half(tmp_path, store) -> None:
    stored = _score(tmp_path, store, tiny_fit())
    assert stored[P.DECISION].to_list() == (np.asarray(stored[P.SCORE].to_list()) >= 0.5).astype(int).tolist()


def test_multiclass_rows_carry_the_predicted_class_and_its_probability(tmp_path, store) -> None:
    model = _fit("multiclass", "tier", [10] * 4 + [20] * 4 + [30] * 4)  # integer classes, not 0..k-1
    stored = _score(tmp_path, store, model)
    frame = pl.DataFrame({"sessions": [int(c[1:]) for c in stored["customer_id"]]})
    proba = predict(model, frame)
    assert stored.height == 12  # one row per entity, not one per class
    assert stored[P.SCORE].to_list() == pytest.approx(proba.max(axis=1).tolist())
    assert stored[P.PREDICTED_CLASS].to_list() == [str(v) for v in model.predict_labels(frame)]
    assert set(stored[P.PREDICTED_CLASS]) <= {"10", "20", "30"}


def test_regression_rows_carry_the_value(tmp_path, store) -> None:
    model = _fit("regression", "price", [1000.0 * i for i in range(12)])
    stored = _score(tmp_path, store, model)
    frame = pl.DataFrame({"sessions": [int(c[1:]) for c in stored["customer_id"]]})
    assert stored[P.SCORE].to_list() == pytest.approx(model.predict(frame).tolist())
    assert P.DECISION not in stored.columns and P.PREDICTED_CLASS not in stored.columns


def test_predictions_frame_refuses_a_matrix_and_bad_decision_columns() -> None:
    entities = pl.DataFrame({"customer_id": ["a", "b"]})
    kwargs = dict(as_of=T0, scored_at=SCORED_AT, model="m", version=1, source="s")
    with pytest.raises(InputError, match=r"6 scores for 2 entities in shape \(2, 3\)") as caught:
        predictions_frame(entities, ["customer_id"], np.zeros((2, 3)), **kwargs)
    assert caught.value.hint
    with pytest.raises(InputError, match="decision column 'verdict'"):
        predictions_frame(entities, ["customer_id"], np.zeros(2), decisions={"verdict": np.zeros(2)}, **kwargs)
    with pytest.raises(InputError, match="decision column 'decision' with 3 values"):
        predictions_frame(entities, ["customer_id"], np.zeros(2), decisions={P.DECISION: np.zeros(3)}, **kwargs)
