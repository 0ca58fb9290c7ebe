"""MLflow's scoring protocol over real sockets: every body MLflow 2/3's scoring server takes
(dataframe_split, dataframe_records, instances, inputs, CSV, unnamed rows as in MLflow's docs),
answered ``{"predictions": [...]}`` as MLflow answers for a LightGBM model, the version in a header;
/ping and /health; MLflow's 415 for another content type and its error shape for bad bodies."""

from __future__ import annotations

import httpx
import numpy as np

from tests.serving.homes import sample
from tests.serving.test_oip import FEATURES


def test_every_json_format_and_csv_answer_the_same_predictions(server, served_home) -> None:
    frame = sample(served_home, 4).select(FEATURES)
    records = frame.to_dicts()
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": frame.columns, "data": [list(r.values()) for r in records]}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs (columns)": {"inputs": frame.to_dict(as_series=False)},
        "inputs (rows, MLflow's docs)": {"inputs": [list(r.values()) for r in records], "params": {}},
    }
    answers = {}
    for name, body in bodies.items():
        answer = httpx.post(f"{server.url}/invocations", json=body)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["x-driftline-model-version"] == "churn/1"
        assert list(answer.json()) == ["predictions"]
        answers[name] = answer.json()["predictions"]
    csv = httpx.post(f"{server.url}/invocations", content=frame.write_csv(),
                     headers={"Content-Type": "text/csv; charset=utf-8"})
    assert csv.status_code == 200, csv.text
    answers["csv"] = csv.json()["predictions"]
    first = answers["dataframe_split"]
    assert len(first) == 4 and all(isinstance(p, float) and 0 < p < 1 for p in first)
    assert all(np.array_equal(np.asarray(v), np.asarray(first)) for v in answers.values()), answers


def test_ping_and_health(server) -> None:
    for path in ("/ping", "/health"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 200


def test_content_types_and_bodies_mlflow_refuses_are_refused_as_mlflow_does(server) -> None:
    url = f"{server.url}/invocations"
    wrong = httpx.post(url, content=b"{}", headers={"Content-Type": "application/xml"})
    assert wrong.status_code == 415 and "only supports the following content types" in wrong.text
    latin = httpx.post(url, content=b"{}", headers={"Content-Type": "application/json; charset=latin-1"})
    assert latin.status_code == 415 and "UTF-8" in latin.text
    for body, message in ((b"[1, 2]", "exactly one of the input fields"),
                          (b'{"dataframe_split": {}, "instances": []}', "exactly one of the input fields"),
                          (b'{"dataframe_records": [{"sessions": 1}', "not valid JSON"),
                          (b'{"inputs": [[1, 2]]}', "without column names each row must hold the 10 features")):
        answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, body
        assert answer.json()["error_code"] == "BAD_REQUEST" and message in answer.json()["message"], answer.text


def test_the_readme_curl_examples_answer_as_shown(server) -> None:
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Serving"):readme.index("## Python API")]
    calls = re.findall(r"curl -s localhost:8080(\S+) -H '([^']+)' -d '([^']+)'", section)
    assert [path for path, _, _ in calls] == ["/v2/models/churn/infer", "/invocations", "/invocations"]
    for path, header, body in calls:
        name, _, value = header.partition(": ")
        answer = httpx.post(server.url + path, content=body.encode(), headers={name: value})
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["x-driftline-model-version"] == "churn/1"
        got = answer.json()
        if path.startswith("/v2"):
            assert (got["id"], got["model_version"]) == ("42", "1") and json.loads(body)["id"] == "42"
        else:
            assert len(got["predictions"]) == 1
