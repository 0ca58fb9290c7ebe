"""`registry approve|reject` resumes the pool run paused on that version's form, through Prefect's REST
API: here a stand-in API on a real socket (stdlib http.server) that records what it is sent;
tests/integration/test_approval.py does it against a real server and worker. The pause keys are what
Prefect accepts for any model name; an unreachable API costs a warning, never the decision."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flows.approval_resume import pause_key, pause_prefix, resume_paused_runs
from tasks.workspace import Workspace
from tests.usecases.candidates import PASSPHRASE
from tests.usecases.test_approval import add

REPO = Path(__file__).resolve().parents[2]


class FakeApi:
    """Paused runs and the resumes it was sent; answers as Prefect 3's server does."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs, self.resumed = runs, []  # type: ignore[var-annotated]
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/flow_runs/filter":
                    assert body["flow_runs"]["state"]["type"]["any_"] == ["PAUSED"]
                    answer: Any = api.runs
                else:
                    run_id = re.fullmatch(r"/api/flow_runs/([^/]+)/resume", self.path).group(1)  # type: ignore[union-attr]
                    api.resumed.append((run_id, body["run_input"]))
                    answer = {"status": "ACCEPT", "details": {}, "state": None}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def paused(run_id: str, key: str | None) -> dict[str, Any]:
    return {"id": run_id, "name": f"run-{run_id}", "state": {"type": "PAUSED", "state_details": {"pause_key": key}}}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi([paused("a", pause_key("churn", 3, 0)), paused("b", pause_key("churn", 3, 2)),
                    paused("c", pause_key("churn", 33, 0)), paused("d", pause_key("churn-3", 0, 0)),
                    paused("e", None), paused("f", "some-other-pause")])
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_only_the_runs_paused_on_this_versions_form_are_resumed_with_the_decision(api: FakeApi) -> None:
    names = resume_paused_runs(api.url, "churn", 3, decision="reject", reason="bias", approver="bo")
    assert names == ["run-a", "run-b"]
    assert api.resumed == [(r, {"decision": "reject", "reason": "bias", "approver": "bo"}) for r in ("a", "b")]


@pytest.mark.parametrize("model", ["churn", "Churn_EU", "m.v2", "a-b", "A" * 64])
def test_pause_keys_are_what_prefect_takes_and_never_shared(model: str) -> None:
    key = pause_key(model, 12, 3)
    assert re.fullmatch(r"[a-z0-9-]+", key) and key.startswith(pause_prefix(model, 12))
    assert not key.startswith(pause_prefix(model, 1)) and not pause_key(model, 1, 3).startswith(pause_prefix(model, 12))
    assert not pause_key(model.swapcase() + "x", 12, 3).startswith(pause_prefix(model, 12))


def test_an_unreachable_api_costs_a_warning_not_the_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"DRIFTLINE_HOME": str(tmp_path / "home"), "DRIFTLINE_KEY_PASSPHRASE": PASSPHRASE, "DRIFTLINE_ACTOR": "ana"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    add(Workspace.open(), "2")  # churn v1, waiting for ana or bo
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "flows", "registry", "approve", "churn", "1", "--reason", "ok",
                           "--no-promote"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
                               "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert "churn v1: approved by ana (ok)" in done.stdout
    assert "could not resume a pool run waiting on churn v1" in done.stderr and "Traceback" not in done.stderr
    assert Workspace.open().registry.approval_state("churn", 1).decision.approver == "ana"  # type: ignore[union-attr]
