"""The served prediction of a row equals what ``python -m flows predict`` writes for it, bit for bit:
the same rows through the command and through HTTP (both protocols, and by entity key alone), the
float64 scores compared exactly (JSON carries them in their shortest round-trip form)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import numpy as np
import polars as pl

from tests.serving.homes import REPO, latest, sample
from tests.serving.test_oip import FEATURES, TYPES


def test_served_scores_equal_predicts_bit_for_bit(server, served_home, tmp_path) -> None:
    rows = sample(served_home, 40)
    source, out = tmp_path / "rows.csv", tmp_path / "scored.parquet"
    rows.write_csv(source)
    result = subprocess.run([sys.executable, "-m", "flows", "--home", str(served_home), "predict", "--model", "churn",
                             "--input", str(source), "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                            timeout=180, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    expected = pl.read_parquet(out)["score"].to_numpy()
    sent = pl.read_csv(source)  # the very values the command read, as JSON numbers and strings
    mlflow = httpx.post(f"{server.url}/invocations", json={"dataframe_split": {
        "columns": FEATURES, "data": sent.select(FEATURES).rows()}}).json()["predictions"]
    inputs = [{"name": f, "shape": [sent.height], "datatype": TYPES.get(f, "FP64"), "data": sent[f].to_list()}
              for f in FEATURES]
    v2 = httpx.post(f"{server.url}/v2/models/churn/infer", json={"inputs": inputs}).json()
    csv = httpx.post(f"{server.url}/invocations", content=source.read_bytes(),
                     headers={"Content-Type": "text/csv"}).json()["predictions"]
    for got in (mlflow, v2["outputs"][0]["data"], csv):
        assert np.asarray(got, dtype=np.float64).tobytes() == expected.astype(np.float64).tobytes()


def test_an_entity_key_alone_scores_the_stored_features_as_predict_scores_them(server, served_home,
                                                                               tmp_path) -> None:
    stored = latest(served_home).head(25)  # stored rows, expired (null) values and all
    source, out = tmp_path / "stored.csv", tmp_path / "stored-scored.parquet"
    stored.write_csv(source)
    result = subprocess.run([sys.executable, "-m", "flows", "--home", str(served_home), "predict", "--input",
                             str(source), "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=180,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    expected = pl.read_parquet(out)["score"].to_numpy()
    keys = stored["customer_id"].to_list()
    v2 = httpx.post(f"{server.url}/v2/models/churn/infer", json={"inputs": [
        {"name": "customer_id", "shape": [len(keys)], "datatype": "BYTES", "data": keys}]})
    assert v2.status_code == 200, v2.text
    mlflow = httpx.post(f"{server.url}/invocations", json={"dataframe_records": [{"customer_id": k} for k in keys]})
    for got in (v2.json()["outputs"][0]["data"], mlflow.json()["predictions"]):
        assert np.asarray(got, dtype=np.float64).tobytes() == expected.astype(np.float64).tobytes()


def test_an_unknown_entity_is_404_naming_the_key(server) -> None:
    answer = httpx.post(f"{server.url}/invocations", json={"dataframe_records": [{"customer_id": "C999999"}]})
    assert answer.status_code == 404 and "customer_id='C999999'" in answer.json()["message"]
    v2 = httpx.post(f"{server.url}/v2/models/churn/infer", json={"inputs": [
        {"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": ["C999999"]}]})
    assert v2.status_code == 404 and "customer_id='C999999'" in v2.json()["error"]
