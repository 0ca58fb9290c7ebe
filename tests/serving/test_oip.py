"""The Open Inference Protocol v2 over real sockets: health, metadata with the schema's datatypes,
infer in the ``pd`` content type (request or input level, or none), the id echoed, the version named,
and the request shapes of the protocol's documentation (KServe's V2 page)."""

from __future__ import annotations

import httpx
import numpy as np
import polars as pl

from tests.serving.homes import sample

FEATURES = ["sessions", "minutes_active", "pages_per_session", "support_tickets", "device", "plan",
            "monthly_spend", "payment_failures", "tenure_days", "region"]
TYPES = {"device": "BYTES", "plan": "BYTES", "region": "BYTES"}


def _inputs(frame: pl.DataFrame, parameters: dict | None = None) -> list[dict]:
    out = []
    for name in FEATURES:
        item = {"name": name, "shape": [frame.height], "datatype": TYPES.get(name, "FP64"),
                "data": frame[name].to_list()}
        if parameters:
            item["parameters"] = parameters
        out.append(item)
    return out


def test_health_and_server_metadata(server) -> None:
    assert httpx.get(f"{server.url}/v2/health/live").json() == {"live": True}
    ready = httpx.get(f"{server.url}/v2/health/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    meta = httpx.get(f"{server.url}/v2").json()
    assert meta["name"] == "driftline" and meta["extensions"] == [] and meta["version"]


def test_model_metadata_lists_the_schemas_inputs_with_their_oip_datatypes(server) -> None:
    meta = httpx.get(f"{server.url}/v2/models/churn")
    assert meta.status_code == 200 and meta.headers["x-driftline-model-version"] == "churn/1"
    body = meta.json()
    assert (body["name"], body["versions"], body["platform"]) == ("churn", ["1"], "lightgbm")
    assert [(i["name"], i["datatype"]) for i in body["inputs"]] == [(f, TYPES.get(f, "FP64")) for f in FEATURES]
    assert [o["name"] for o in body["outputs"]] == ["score", "decision"]
    assert body["parameters"]["entity_keys"] == ["customer_id"]
    assert httpx.get(f"{server.url}/v2/models/churn/versions/1").json() == body
    ready = httpx.get(f"{server.url}/v2/models/churn/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert httpx.get(f"{server.url}/v2/models/churn/versions/1/ready").status_code == 200


def test_infer_in_the_pd_content_type_echoes_the_id_and_names_the_version(server, served_home) -> None:
    frame = sample(served_home, 5)
    for where in ("request", "input", "none"):
        body = {"id": f"req-{where}", "inputs": _inputs(frame, {"content_type": "pd"} if where == "input" else None)}
        if where == "request":
            body["parameters"] = {"content_type": "pd"}
        answer = httpx.post(f"{server.url}/v2/models/churn/infer", json=body)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert (got["id"], got["model_name"], got["model_version"]) == (f"req-{where}", "churn", "1")
        assert answer.headers["x-driftline-model-version"] == "churn/1"
        outputs = {o["name"]: o for o in got["outputs"]}
        assert set(outputs) == {"score", "decision"} and outputs["score"]["shape"] == [5]
        assert outputs["score"]["datatype"] == "FP64" and outputs["decision"]["datatype"] == "INT64"
        scores = np.asarray(outputs["score"]["data"])
        assert outputs["decision"]["data"] == [int(s >= 0.4) for s in scores]


def test_versioned_infer_asked_outputs_and_an_id_made_when_none_is_given(server, served_home) -> None:
    frame = sample(served_home, 2)
    answer = httpx.post(f"{server.url}/v2/models/churn/versions/1/infer",
                        json={"inputs": _inputs(frame), "outputs": [{"name": "score"}]})
    got = answer.json()
    assert [o["name"] for o in got["outputs"]] == ["score"] and got["id"]
    # A column given as [[v], [v]] (shape [n, 1]) is the same column.
    nested = [{**i, "shape": [2, 1], "data": [[v] for v in i["data"]]} for i in _inputs(frame)]
    again = httpx.post(f"{server.url}/v2/models/churn/infer", json={"inputs": nested}).json()
    assert again["outputs"][0]["data"] == got["outputs"][0]["data"]


def test_unknown_model_or_version_is_404_with_an_error(server) -> None:
    for path in ("/v2/models/nope", "/v2/models/churn/versions/9", "/v2/models/churn/versions/x/ready"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 404 and answer.json()["error"], path
    answer = httpx.post(f"{server.url}/v2/models/nope/infer", json={"inputs": []})
    assert answer.status_code == 404 and "'nope' is not served" in answer.json()["error"]


def test_the_protocol_docs_tensor_example_is_refused_naming_the_column(server) -> None:
    # KServe's V2 page sends an unnamed tensor ("input-0", shape [2, 4]); a tabular model names columns.
    doc = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
                       "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}]}
    answer = httpx.post(f"{server.url}/v2/models/churn/infer", json=doc)
    assert answer.status_code == 400 and "column 'input-0' holds a nested list" in answer.json()["error"]
    flat = {"inputs": [{"name": "input-0", "shape": [2], "datatype": "FP32", "data": [6.8, 6.0]}]}
    answer = httpx.post(f"{server.url}/v2/models/churn/infer", json=flat)
    assert answer.status_code == 400 and "lacks column 'sessions'" in answer.json()["error"]
    tensor = {"parameters": {"content_type": "np"}, "inputs": [{"name": "sessions", "shape": [1], "datatype": "FP64",
                                                                "data": [1.0]}]}
    answer = httpx.post(f"{server.url}/v2/models/churn/infer", json=tensor)
    assert answer.status_code == 400 and "'np'" in answer.json()["error"]
