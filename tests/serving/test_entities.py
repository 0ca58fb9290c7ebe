"""Entity lookups follow the store: after an ingestion lands, a request naming only an entity key
scores the entity's new latest features (an entity unknown before is found), without a restart."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl

import driftline_api as dl
from tasks.workspace import Workspace
from tests.serving.homes import ServerProcess, latest, make_home
from training.model import TrainedModel
from usecases.predict_file import prediction_columns, typed_features


def _lookup(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v2/models/churn/infer", json={"inputs": [
        {"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": [key]}]})


def test_an_ingestion_is_seen_by_entity_lookups_without_a_restart(tmp_path: Path, demo_drop, serving_env) -> None:
    home = make_home(tmp_path / "home", demo_drop, versions=1)
    newest = latest(home)
    known = newest["customer_id"][0]
    with ServerProcess(home) as server:
        assert _lookup(server.url, "C777777").status_code == 404
        before = _lookup(server.url, known).json()["outputs"][0]["data"][0]
        stamp = Workspace.open(home).data_time([Workspace.open(home).store.snapshot("customer_activity")])
        rows = pl.DataFrame({"customer_id": [known, "C777777"], "event_time": [stamp + timedelta(hours=1)] * 2,
                             "sessions": [77, 3], "minutes_active": [900.0, 12.5], "pages_per_session": [9.0, 2.0],
                             "support_tickets": [9, 0], "device": ["tablet", "mobile"]})
        dl.open(home).ingest(rows, group="customer_activity")
        deadline = time.monotonic() + 30
        while _lookup(server.url, "C777777").status_code != 200:
            assert time.monotonic() < deadline, "the ingestion was never seen"
            time.sleep(0.05)  # polling for the reload, nothing is timed
        after = {k: _lookup(server.url, k).json()["outputs"][0]["data"][0] for k in (known, "C777777")}
    stored = latest(home).filter(pl.col("customer_id").is_in([known, "C777777"])).sort("customer_id")
    champion = Workspace.open(home).registry.load("churn", "champion")
    model = TrainedModel.load(champion.path)
    expected = prediction_columns(model, typed_features(stored, model.schema, "churn v1"), None)[0].to_list()
    assert [after[k] for k in stored["customer_id"].to_list()] == expected
    assert after[known] != before  # its new features were scored
