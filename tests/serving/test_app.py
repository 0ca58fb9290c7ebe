"""The application in-process (Starlette's test client, no socket): what the sink receives for each
answered request (the ServedBatch the prediction log builds on), several slots of one model, and a
declared model without a champion skipped by the default set (none left: refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from driftline.errors import NotFoundError
from serving.app import Limits
from serving.models import ModelRef
from serving.served import ServedBatch
from serving.server import build, default_refs
from tasks.workspace import Workspace
from tests.serving.homes import sample
from tests.serving.test_oip import FEATURES


class Recording:
    def __init__(self) -> None:
        self.batches: list[ServedBatch] = []
        self.closed = False

    def submit(self, batch: ServedBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def app(served_home: Path):
    sink = Recording()
    serving = build(Workspace.open(served_home), [ModelRef.parse("churn"), ModelRef.parse("churn@3")],
                    limits=Limits(max_batch_rows=50), sink=sink)
    return TestClient(serving.app.starlette()), sink


def test_each_answered_request_hands_one_served_batch_to_the_sink(app, served_home) -> None:
    client, sink = app
    sink.batches.clear()
    rows = sample(served_home, 3).select(FEATURES)
    client.post("/invocations", json={"dataframe_records": rows.to_dicts()}, headers={"X-Request-Id": "r-1"})
    client.post("/v2/models/churn/infer", json={"id": "r-2", "inputs": [
        {"name": "customer_id", "shape": [2], "datatype": "BYTES", "data": ["C000001", "C000002"]}]})
    client.post("/invocations", json={"dataframe_records": [{"sessions": "x"}]})  # refused: no batch
    first, second = sink.batches
    assert (first.model, first.version, first.alias, first.role, first.returned, first.request_id,
            first.protocol) == ("churn", 1, "champion", "champion", True, "r-1", "mlflow")
    assert first.inputs.columns == FEATURES and first.inputs.height == 3
    assert first.outputs.columns == ["score", "decision"] and first.entities is None
    assert first.received_at.tzinfo is not None
    assert (second.request_id, second.protocol) == ("r-2", "v2")
    assert second.entities is not None and second.entities["customer_id"].to_list() == ["C000001", "C000002"]
    assert second.inputs.height == 2


def test_several_slots_of_one_model_are_addressed_by_version(app, served_home) -> None:
    client, sink = app
    assert client.get("/v2").json()["models"] == {"churn@champion": "churn/1", "churn@3": "churn/3"}
    inputs = [{"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": ["C000001"]}]
    pinned = client.post("/v2/models/churn/versions/3/infer", json={"inputs": inputs})
    assert pinned.json()["model_version"] == "3" and pinned.headers["x-driftline-model-version"] == "churn/3"
    assert sink.batches[-1].role == "pinned" and sink.batches[-1].alias is None
    assert client.post("/v2/models/churn/infer", json={"inputs": inputs}).json()["model_version"] == "1"
    assert client.get("/v2/models/churn/versions/2").status_code == 404
    over = client.post("/invocations", json={"dataframe_records": [{"customer_id": "C000001"}] * 51})
    assert over.status_code == 413


def test_the_default_set_skips_a_declared_model_without_a_champion(served_home, capsys) -> None:
    from usecases.models import save_spec, spec_from_flags

    ws = Workspace.open(served_home)
    assert default_refs(ws) == [ModelRef("churn")]
    spec = spec_from_flags("spend", group="customer_billing", label="monthly_spend", task="regression")
    path = save_spec(spec, served_home / "models")
    try:  # churn has no spec file: once one model is declared, the demo's default no longer is
        with pytest.raises(NotFoundError, match="no declared model has a champion to serve"):
            default_refs(ws)
    finally:
        path.unlink()
    assert "spend has no champion yet" in capsys.readouterr().err


def test_a_small_body_is_scored_on_the_loop_and_a_large_one_in_the_thread_pool(app, served_home, monkeypatch) -> None:
    import serving.app as app_module

    client, sink = app
    handed: list[int] = []
    real = app_module.run_in_threadpool

    async def counting(func, *args):  # type: ignore[no-untyped-def]
        handed.append(len(args[1][FEATURES[0]]))
        return await real(func, *args)

    monkeypatch.setattr(app_module, "run_in_threadpool", counting)
    monkeypatch.setattr(app_module, "INLINE_BODY_BYTES", 1024)  # 40 rows are ~3 kB: below the real limit
    rows = sample(served_home, 40).select(FEATURES)
    small = client.post("/invocations", json={"dataframe_split": {"columns": FEATURES, "data": rows.head(1).rows()}})
    large = client.post("/invocations", json={"dataframe_split": {"columns": FEATURES, "data": rows.rows()}})
    assert small.status_code == large.status_code == 200 and len(large.json()["predictions"]) == 40
    assert handed == [40]  # only the large body went to a thread; both answered the same way
    assert small.json()["predictions"][0] == large.json()["predictions"][0]


def test_a_lone_large_body_gets_the_predict_threads_and_the_same_answer(served_home, monkeypatch) -> None:
    import serving.app as app_module
    import training.model as model_module

    asked: list[int | None] = []
    real = model_module.TrainedModel.predict

    def recording(self, frame, *, threads=None):  # type: ignore[no-untyped-def]
        asked.append(threads)
        return real(self, frame, threads=threads)

    monkeypatch.setattr(model_module.TrainedModel, "predict", recording)
    monkeypatch.setattr(app_module, "INLINE_BODY_BYTES", 1024)  # 40 rows are ~3 kB: below the real limit
    rows = sample(served_home, 40).select(FEATURES)
    body = {"dataframe_split": {"columns": FEATURES, "data": rows.rows()}}
    answers = []
    for threads in (1, 2):
        serving = build(Workspace.open(served_home), [ModelRef.parse("churn")],
                        limits=Limits(predict_threads=threads), sink=Recording())
        answers.append(TestClient(serving.app.starlette()).post("/invocations", json=body).json()["predictions"])
    assert asked == [None, 2]  # the default keeps the model's own count; 2 when asked, scored alone
    assert answers[0] == answers[1]
