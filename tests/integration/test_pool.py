"""The pool end to end: PostgreSQL, a Prefect server, a process worker, the deployments of
deployments/prefect.yaml, the landing watcher and the event triggers.

A data home is bootstrapped against the real server (days 1-89 of the demo ingested, a champion
trained), one held-back drop is then landed and announced by ``watch --once``, and the test waits
for the ``ingest`` deployment's run; the ``monitor`` deployment is run as its hourly schedule
would, finds the demo's drift, and its ``driftline.drift.detected`` event must start ``retrain``
on the worker. Everything started is stopped by the fixture's finalizer, even on failure; the last
test sends SIGTERM to the supervisor and checks that every worker and the server are gone.

Run: .venv/bin/python -m pytest -m integration tests/integration/test_pool.py -s
Needs: Debian's postgresql (binaries in /usr/lib/postgresql/15/bin) and psycopg[binary].
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
POOL_SCRIPT = REPO / "deployments" / "pool.py"
HELD_BACK = ("customer_activity", 90)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _flows(env: dict[str, str], *args: str) -> str:
    return _run([sys.executable, "-m", "flows", *args], env)


class Api:
    def __init__(self, url: str):
        self.url = url

    def post(self, path: str, body: dict) -> list | dict:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def deployment_runs(self, flow: str) -> list[dict]:
        """Runs of flow ``flow`` started by its deployment (not the bootstrap's in-process runs)."""
        runs = self.post("/flow_runs/filter", {"flows": {"name": {"any_": [flow]}}, "limit": 200})
        return [r for r in runs if r.get("deployment_id")]

    def wait_for_run(self, flow: str, timeout_s: float, after: int = 0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = self.deployment_runs(flow)
            if len(runs) > after:
                run = sorted(runs, key=lambda r: r["created"])[after]
                if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    assert run["state_type"] == "COMPLETED", f"{flow} run {run['name']} ended {run['state_type']}"
                    return run
            time.sleep(1)
        raise AssertionError(f"no completed {flow} deployment run within {timeout_s:.0f} s")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def pool():
    # PostgreSQL runs as the `postgres` user when we are root: the home must be traversable by it.
    home = Path(tempfile.mkdtemp(prefix="driftline-pool-", dir="/tmp"))
    home.chmod(0o755)
    port, pg_port = _free_port(), _free_port()
    base = {**os.environ, "DRIFTLINE_HOME": str(home), "DRIFTLINE_TRAINING__N_TRIALS": "3",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    base.pop("PREFECT_API_URL", None)
    common = ["--home", str(home)]
    flags = ["--workers", "1", "--port", str(port), "--pg-port", str(pg_port), "--grace", "5"]
    started = time.monotonic()
    try:
        _run([sys.executable, str(POOL_SCRIPT), *common, "start", *flags], base, timeout=300)
        print(f"\npool started in {time.monotonic() - started:.1f} s")
        env = {**base, **json.loads((home / "state" / "pool" / "pool.json").read_text())["env"]}
        yield {"home": home, "env": env, "api": Api(env["PREFECT_API_URL"]), "state": home / "state" / "pool"}
    finally:
        subprocess.run([sys.executable, str(POOL_SCRIPT), *common, "stop", *flags], env=base, cwd=REPO,
                       timeout=120)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def bootstrapped(pool):
    """Days 1-89 ingested and a champion trained, run in-process against the pool's server."""
    from features.synthetic import generate_demo

    env, home = pool["env"], pool["home"]
    source = home / "demo-source"
    drop = generate_demo(source, customers=400, seed=7)
    held = [p for p in drop.paths() if p.parent.name == HELD_BACK[0] and f"{HELD_BACK[1]:03d}" in p.name]
    assert len(held) == 1, held

    def land(paths):
        for path in paths:
            target = home / "landing" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)

    land(drop.paths(1, 60))
    _flows(env, "ingest")
    _flows(env, "train", "--trials", "3", "--reason", "bootstrap")
    land([p for p in drop.paths(61) if p not in held])
    _flows(env, "ingest")
    # These drops were ingested by hand: the watcher adopts them instead of announcing them.
    _flows(env, "watch", "--baseline")
    return held[0]


def test_a_landed_file_is_ingested_and_drift_retrains_on_the_worker(pool, bootstrapped):
    env, api, home = pool["env"], pool["api"], pool["home"]
    target = home / "landing" / bootstrapped.parent.name / bootstrapped.name
    landed = time.time()
    os.replace(bootstrapped, target)
    out = _flows(env, "watch", "--once", "--settle", "0")
    assert "announced 1 new drop" in out, out

    ingest = api.wait_for_run("ingest", 180)
    assert ingest["parameters"]["paths"] == [str(target.resolve())]
    ingest_latency = _ts(ingest["start_time"]) - landed

    # The hourly schedule, now: run the monitor deployment and let its event start retraining.
    _run([sys.executable, "-m", "prefect", "deployment", "run", "monitor/monitor"], env)
    monitor = api.wait_for_run("monitor", 240)
    retrain = api.wait_for_run("retrain", 600)
    assert retrain["parameters"]["idempotency_key"].startswith("churn:v")
    drift_to_retrain = _ts(retrain["start_time"]) - _ts(monitor["end_time"])
    print(f"\nlanded -> ingest running {ingest_latency:.1f} s; monitor done -> retrain running "
          f"{drift_to_retrain:.1f} s; landed -> retrain done {_ts(retrain['end_time']) - landed:.1f} s")
    assert ingest_latency < 60 and drift_to_retrain < 60


def test_sigterm_to_the_supervisor_stops_every_worker_and_the_server(pool):
    info = json.loads((pool["state"] / "pool.json").read_text())
    children = [info["server"], *info["workers"]]
    os.kill(info["supervisor"], signal.SIGTERM)
    deadline = time.monotonic() + 20
    alive = children
    while time.monotonic() < deadline:
        alive = [pid for pid in children if _alive(pid)]
        if not alive and not _alive(info["supervisor"]):
            break
        time.sleep(0.2)
    assert alive == [], f"still running after SIGTERM: {alive}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not collected it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False
