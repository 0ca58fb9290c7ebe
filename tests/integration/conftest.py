"""The pool the integration tests share: PostgreSQL, a Prefect server, one process worker and the
deployments of deployments/prefect.yaml, started once per session (``pool``, ~35 s) and stopped
by the fixture's finalizer, even on failure. On a failure the pool's logs are copied into pytest's
tmp dir and their tails printed (DRIFTLINE_KEEP_POOL_LOGS=1 keeps them on success too).

A test marked ``stops_pool`` (test_pool.py's SIGTERM test) takes the server down: it runs after
every other test of the session, whichever file it is in.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POOL_SCRIPT = REPO / "deployments" / "pool.py"


def pytest_configure(config):
    config.addinivalue_line("markers", "stops_pool: stops the shared pool; runs last in the session")


def pytest_collection_modifyitems(session, config, items):
    # Stable: everything else keeps its order, the pool-stopping tests go to the end.
    items.sort(key=lambda item: item.get_closest_marker("stops_pool") is not None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Api:
    def __init__(self, url: str):
        self.url = url

    def post(self, path: str, body: dict | list) -> list | dict | None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            data = response.read()
        return json.loads(data) if data else None

    def get(self, path: str) -> list | dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def deployment_runs(self, flow: str) -> list[dict]:
        """Runs of flow ``flow`` started through its deployment: by a trigger or by hand. Neither
        the bootstrap's in-process runs nor the runs the scheduler queues ahead for the deployment's
        cron (``auto_scheduled``; monitor's hourly and retrain's weekly runs sit there, SCHEDULED in
        the future, from the moment of ``prefect deploy``)."""
        runs = self.post("/flow_runs/filter", {"flows": {"name": {"any_": [flow]}}, "limit": 200})
        return [r for r in runs if r.get("deployment_id") and not r.get("auto_scheduled")]

    def run_deployment(self, name: str) -> str:
        """What ``prefect deployment run <name>`` does, without a CLI process's imports: the id."""
        deployment = self.get(f"/deployments/name/{name}")
        return self.post(f"/deployments/{deployment['id']}/create_flow_run", {})["id"]

    def wait_for_run(self, flow: str, timeout_s: float, run_id: str | None = None,
                     known: frozenset[str] = frozenset()) -> dict:
        """The first (or the given) deployment run of ``flow`` not in ``known``, once it has
        finished; it must have completed."""
        deadline = time.monotonic() + timeout_s
        seen = "none"
        while time.monotonic() < deadline:
            runs = sorted((r for r in self.deployment_runs(flow) if run_id in (None, r["id"]) and r["id"] not in known),
                          key=lambda r: r["created"])
            if runs:
                run = runs[0]
                seen = f"{run['name']} {run['state_type']}"
                if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    assert run["state_type"] == "COMPLETED", f"{flow} run {run['name']} ended {run['state_type']}"
                    return run
            time.sleep(0.5)
        raise AssertionError(f"no completed {flow} deployment run within {timeout_s:.0f} s (last seen: {seen})")

    def states(self, run: dict) -> dict[str, float]:
        """When the run first entered each state type (server clock, epoch seconds)."""
        first: dict[str, float] = {}
        for state in sorted(self.get(f"/flow_run_states/?flow_run_id={run['id']}"), key=lambda s: s["timestamp"]):
            first.setdefault(state["type"], _ts(state["timestamp"]))
        return first

    def known_runs(self, flow: str) -> frozenset[str]:
        return frozenset(r["id"] for r in self.deployment_runs(flow))

    def event(self, name: str, timeout_s: float = 15, **match: list[str]) -> dict:
        """The first event ``name`` on the server (``match``: more of the events filter, e.g.
        ``resource={"id": [...]}``). Triggers act on the event stream before the event is stored,
        so a run can exist before its event is queryable: wait for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.post("/events/filter", {"filter": {"event": {"name": [name]}, **match},
                                                 "limit": 10})["events"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert found, f"no {name} event on the server after {timeout_s:.0f} s"
        return sorted(found, key=lambda e: e["occurred"])[0]

    def breakdown(self, label: str, start: float, event: dict, run: dict) -> str:
        """start -> event sent -> received -> run created (trigger) -> PENDING (worker) -> RUNNING."""
        states = self.states(run)
        marks = [("event", _ts(event["occurred"])), ("received", _ts(event["received"])),
                 ("run created", _ts(run["created"])), ("pending", states.get("PENDING", float("nan"))),
                 ("running", states.get("RUNNING", float("nan")))]
        steps, prev = [], start
        for name, at in marks:
            steps.append(f"{name} +{at - prev:.2f}")
            prev = at
        return f"{label}: {marks[-1][1] - start:.2f} s ({', '.join(steps)})"


def _keep_logs(state: Path, keep: Path) -> None:
    """Copy the pool's logs out of the data home (which the fixture removes) and print their tails."""
    keep.mkdir(parents=True, exist_ok=True)
    logs = sorted((state / "logs").glob("*.log")) + [state / "supervisor.log"]
    for log in (p for p in logs if p.exists()):
        shutil.copy2(log, keep / log.name)
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        print(f"\n---- {log.name} (last {len(tail)} lines; full copy in {keep}) ----\n" + "\n".join(tail))


@pytest.fixture(scope="session")
def pool(request, tmp_path_factory):
    """The running pool: ``home``, ``env`` (for CLI processes against it), ``api`` (its REST API),
    ``state`` (state/pool/: pool.json, logs) and ``ui`` (the bundled UI's base URL)."""
    # PostgreSQL runs as the `postgres` user when we are root: the home must be traversable by it.
    home = Path(tempfile.mkdtemp(prefix="driftline-pool-", dir="/tmp"))
    home.chmod(0o755)
    port, pg_port = _free_port(), _free_port()
    base = {**os.environ, "DRIFTLINE_HOME": str(home), "DRIFTLINE_TRAINING__N_TRIALS": "3",
            # 400 customers leave ~360 holdout rows: too few for the default 0.05 ECE bound to be stable
            "DRIFTLINE_GATE__MAX_ECE": "0.1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    base.pop("PREFECT_API_URL", None)
    common = ["--home", str(home)]
    flags = ["--workers", "1", "--port", str(port), "--pg-port", str(pg_port), "--grace", "5"]
    started = time.monotonic()
    failed_before = request.session.testsfailed
    try:
        _run([sys.executable, str(POOL_SCRIPT), *common, "start", *flags], base, timeout=300)
        print(f"\npool started in {time.monotonic() - started:.1f} s")
        env = {**base, **json.loads((home / "state" / "pool" / "pool.json").read_text())["env"]}
        yield {"home": home, "env": env, "api": Api(env["PREFECT_API_URL"]), "state": home / "state" / "pool",
               "ui": f"http://127.0.0.1:{port}"}
    finally:
        subprocess.run([sys.executable, str(POOL_SCRIPT), *common, "stop", *flags], env=base, cwd=REPO,
                       timeout=120)
        if request.session.testsfailed > failed_before or os.environ.get("DRIFTLINE_KEEP_POOL_LOGS"):
            _keep_logs(home / "state" / "pool", tmp_path_factory.mktemp("pool-logs"))
        shutil.rmtree(home, ignore_errors=True)
