"""Bad requests over real sockets, both protocols: each kind is a 4xx whose message names the column
(or the limit), never a 500 or a traceback; the bearer token and the limits are enforced."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.serving.homes import sample
from tests.serving.test_oip import FEATURES, TYPES


def _row(served_home, **changes) -> dict:
    row = sample(served_home, 1).select(FEATURES).to_dicts()[0]
    for name, value in changes.items():
        if value is _DROP:
            row.pop(name)
        else:
            row[name] = value
    return row


_DROP = object()
CASES = {  # kind -> (changes to one good row, words the message must hold)
    "missing column": ({"plan": _DROP}, "lacks column 'plan'"),
    "wrong type": ({"monthly_spend": "lots"}, "column 'monthly_spend' row 1: 'lots' is not a number"),
    "unknown category": ({"device": "toaster"}, "column 'device' row 1: 'toaster' is a category"),
    "null where not allowed": ({"sessions": None}, "column 'sessions' row 1 is null or NaN"),
    "NaN where not allowed": ({"minutes_active": "NaN"}, "column 'minutes_active' row 1 is null or NaN"),
    "nested value": ({"region": {"a": 1}}, "column 'region' holds a nested list or object"),
}


@pytest.mark.parametrize("kind", CASES)
def test_each_bad_value_is_400_naming_the_column_in_both_protocols(server, served_home, kind) -> None:
    changes, words = CASES[kind]
    row = _row(served_home, **changes)
    mlflow = httpx.post(f"{server.url}/invocations", json={"dataframe_records": [row]})
    assert mlflow.status_code == 400 and words in mlflow.json()["message"], mlflow.text
    inputs = [{"name": k, "shape": [1], "datatype": TYPES.get(k, "FP64"), "data": [v]} for k, v in row.items()]
    v2 = httpx.post(f"{server.url}/v2/models/churn/infer", json={"inputs": inputs})
    assert v2.status_code == 400 and words in v2.json()["error"], v2.text
    assert "Traceback" not in mlflow.text + v2.text


def test_malformed_bodies_and_structures_are_400_never_500(server) -> None:
    url = f"{server.url}/v2/models/churn/infer"
    for body in (b"{not json", b"[]", b'{"inputs": 3}', b'{"inputs": [{"name": "a"}]}', b'{"id": 5, "inputs": []}',
                 b'{"inputs": [{"name": "sessions", "data": [1, 2]}, {"name": "plan", "data": ["a"]}]}',
                 b'{"inputs": [{"name": "sessions", "data": [NaN]}]}', b"\xff\xfe", b""):
        answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"], (body, answer.text)


def test_the_row_and_byte_limits_answer_413(server, served_home) -> None:
    row = _row(served_home)
    many = httpx.post(f"{server.url}/invocations", json={"dataframe_records": [row] * 1001})
    assert many.status_code == 413 and "1001 rows, over this server's limit of 1000" in many.json()["message"]
    big = orjson.dumps({"dataframe_records": [row] * 1000, "pad": "x" * 200_000})
    answer = httpx.post(f"{server.url}/invocations", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and "over this server's limit of 200000" in answer.json()["message"]
    v2 = httpx.post(f"{server.url}/v2/models/churn/infer", content=big, headers={"Content-Type": "application/json"})
    assert v2.status_code == 413 and "bytes" in v2.json()["error"]


def test_a_bearer_token_is_required_when_set_but_not_by_health_probes(served_home) -> None:
    from starlette.testclient import TestClient

    from serving.app import Limits
    from serving.server import build
    from tasks.workspace import Workspace

    client = TestClient(build(Workspace.open(served_home), [], limits=Limits(token="s3cret")).app.starlette())
    body = {"dataframe_records": [_row(served_home)]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        answer = client.post("/invocations", json=body, headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error_code"] == "UNAUTHENTICATED"
    assert client.get("/v2/models/churn").status_code == 401
    assert client.post("/v2/models/churn/infer", json={"inputs": []}).status_code == 401
    assert client.post("/invocations", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    for probe in ("/v2/health/ready", "/v2/health/live", "/ping", "/health"):
        assert client.get(probe).status_code == 200, probe


def test_it_binds_127_0_0_1_unless_told_otherwise(server) -> None:
    assert f"on http://127.0.0.1:{server.port} " in server.announced


BAD_LINES = """
import contextlib, io, json, sys
from flows.cli import main
out = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    out.append([code, err.getvalue()])
print(json.dumps(out))
"""


def test_bad_command_lines_exit_2_with_one_line(served_home, tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.serving.homes import REPO

    cases = [(["--model", "churn@"], "is not NAME"), (["--max-batch-rows", "0"], "must be at least 1"),
             (["--predict-threads", "0"], "must be at least 1"),
             (["--token-file", str(tmp_path / "none")], "cannot read the token file"),
             (["--model", "nope"], "nope"), (["--port", "70000"], "is not a TCP port")]
    argv = [["--home", str(served_home), "predict-server", *args] for args, _ in cases]
    result = subprocess.run([sys.executable, "-c", BAD_LINES, json.dumps(argv)], cwd=REPO, capture_output=True,
                            text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-2000:]
    for (code, stderr), (args, words) in zip(json.loads(result.stdout), cases, strict=True):
        assert code == 2 and words in stderr and "Traceback" not in stderr and stderr.count("\n") == 1, (args, stderr)
