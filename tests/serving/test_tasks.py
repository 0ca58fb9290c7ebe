"""Multiclass, regression and yes/no binary models behind both protocols (in-process, Starlette's
test client): OIP answers one output per prediction column (``predicted_class`` and
``proba_<class>``; ``prediction``; ``score``, ``decision`` and ``predicted_class``), MLflow the
model's array (a list of class probabilities per row; the value; P(class 1)), each equal to
``predict``'s columns for the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from starlette.testclient import TestClient

from serving.app import Limits
from serving.server import build
from tasks.workspace import Workspace
from tests.serving.homes import PARAMS, latest
from tests.usecases.candidates import gate_report, lineage
from training.model import TrainedModel, fit_final
from usecases.models import save_spec, spec_from_flags
from usecases.predict_file import prediction_columns, typed_features
from usecases.promotion import promote_version
from usecases.registration import register_candidate

FEATURES = ["payment_failures", "tenure_days", "region", "sessions"]


@pytest.fixture(scope="module")
def tasks_home(tmp_path_factory: pytest.TempPathFactory, demo_drop, serving_env) -> Path:
    import driftline_api as dl

    home = tmp_path_factory.mktemp("tasks") / "home"
    for group in ("customer_activity", "customer_billing"):
        dl.open(home).ingest(demo_drop.landing / group, group=group)
    frame = latest(home).drop_nulls(subset=[*FEATURES, "plan", "monthly_spend"])
    for name, task, label in (("plans", "multiclass", "plan"), ("spend", "regression", "monthly_spend")):
        save_spec(spec_from_flags(name, group="customer_billing", label=label, task=task,
                                  features=("customer_billing", "customer_activity")), home / "models")
        model = fit_final(frame, features=FEATURES, categorical=["region"], label=label, task=task, params=PARAMS,
                          num_boost_round=8, seed=1, n_threads=1)
        ws = Workspace.open(home, model_name=name)
        register_candidate(ws, files={"model.txt": model.model_bytes(), "model_schema.json": model.schema_bytes()},
                           lineage=lineage(name), report=gate_report())
        promote_version(ws, name, 1, reason="tasks test")
    # A binary label of two strings, "yes" the positive: its decision is told as yes/no too (the spec
    # only names the feature groups it is served from; the label is made here).
    frame = frame.with_columns(big=pl.when(pl.col("monthly_spend") > pl.col("monthly_spend").median())
                               .then(pl.lit("yes")).otherwise(pl.lit("no")))
    save_spec(spec_from_flags("big", group="customer_billing", label="plan", task="multiclass",
                              features=("customer_billing", "customer_activity")), home / "models")
    model = fit_final(frame, features=FEATURES, categorical=["region"], label="big", task="binary", params=PARAMS,
                      num_boost_round=8, seed=1, n_threads=1, positive="yes")
    ws = Workspace.open(home, model_name="big")
    register_candidate(ws, files={"model.txt": model.model_bytes(), "model_schema.json": model.schema_bytes()},
                       lineage={**lineage("big"), "metrics": {"auc": 0.8, "threshold": 0.5}}, report=gate_report())
    promote_version(ws, "big", 1, reason="tasks test")
    return home


def _expected(home: Path, name: str, rows: pl.DataFrame, threshold: float | None = None) -> list[pl.Series]:
    model = TrainedModel.load(Workspace.open(home).registry.load(name, "champion").path)
    return prediction_columns(model, typed_features(rows, model.schema, name), threshold)


def test_multiclass_and_regression_answer_per_prediction_column(tasks_home: Path) -> None:
    client = TestClient(build(Workspace.open(tasks_home), [], limits=Limits()).app.starlette())
    assert client.get("/v2").json()["models"] == {"plans@champion": "plans/1", "spend@champion": "spend/1",
                                                  "big@champion": "big/1"}
    rows = latest(tasks_home).drop_nulls(subset=FEATURES).head(6).select(FEATURES)
    inputs = [{"name": c, "shape": [6], "datatype": "BYTES" if c == "region" else "FP64", "data": rows[c].to_list()}
              for c in FEATURES]
    for name in ("plans", "spend"):
        expected = _expected(tasks_home, name, rows)
        v2 = client.post(f"/v2/models/{name}/infer", json={"inputs": inputs}).json()
        assert [o["name"] for o in v2["outputs"]] == [s.name for s in expected]
        for output, series in zip(v2["outputs"], expected, strict=True):
            assert output["data"] == series.to_list(), output["name"]
        meta = client.get(f"/v2/models/{name}").json()
        assert [o["name"] for o in meta["outputs"]] == [s.name for s in expected]
        mlflow = client.post("/invocations", json={"dataframe_records": rows.to_dicts()},
                             headers={"X-Driftline-Model": name})
        assert mlflow.headers["x-driftline-model-version"] == f"{name}/1"
        predictions = np.asarray(mlflow.json()["predictions"])
        if name == "plans":
            assert [o["datatype"] for o in v2["outputs"]][0] == "BYTES"
            assert predictions.shape == (6, 3)
            assert np.array_equal(predictions, np.column_stack([s.to_numpy() for s in expected[1:]]))
        else:
            assert np.array_equal(predictions, expected[0].to_numpy())
    unknown = client.post("/invocations", json={"dataframe_records": rows.to_dicts()},
                          headers={"X-Driftline-Model": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_yes_no_binary_model_answers_its_decision_as_yes_or_no(tasks_home: Path) -> None:
    client = TestClient(build(Workspace.open(tasks_home), [], limits=Limits()).app.starlette())
    rows = latest(tasks_home).drop_nulls(subset=FEATURES).head(20).select(FEATURES)
    inputs = [{"name": c, "shape": [20], "datatype": "BYTES" if c == "region" else "FP64", "data": rows[c].to_list()}
              for c in FEATURES]
    expected = _expected(tasks_home, "big", rows, threshold=0.5)
    assert [s.name for s in expected] == ["score", "decision", "predicted_class"]
    v2 = client.post("/v2/models/big/infer", json={"inputs": inputs}).json()
    assert [o["name"] for o in v2["outputs"]] == ["score", "decision", "predicted_class"]
    for output, series in zip(v2["outputs"], expected, strict=True):
        assert output["data"] == series.to_list(), output["name"]
    named = dict(zip(v2["outputs"][1]["data"], v2["outputs"][2]["data"], strict=True))
    assert set(v2["outputs"][2]["data"]) == {"yes", "no"} and named == {1: "yes", 0: "no"}
    assert v2["outputs"][2]["datatype"] == "BYTES"
    meta = client.get("/v2/models/big").json()
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
        ("score", "FP64"), ("decision", "INT64"), ("predicted_class", "BYTES")]
    mlflow = client.post("/invocations", json={"dataframe_records": rows.to_dicts()},
                         headers={"X-Driftline-Model": "big"})
    assert np.array_equal(np.asarray(mlflow.json()["predictions"]), expected[0].to_numpy())  # MLflow: P(yes)
