"""The pool the integration tests share: PostgreSQL, a Prefect server, one process worker and the
deployments of deployments/prefect.yaml, started once per session (``pool``, ~35 s) and stopped
by the fixture's finalizer, even on failure. On a failure the pool's logs are copied into pytest's
tmp dir and their tails printed (DRIFTLINE_KEEP_POOL_LOGS=1 keeps them on success too).

Two models are declared in the pool's data home before it starts (``models/churn.toml``, the
demo's spec, and ``models/billing.toml``, :data:`SECOND_MODEL`), so the pool deploys monitor, retrain
and score with one schedule per model, as ``deployments/pool.py`` renders them.

A test marked ``stops_pool`` (test_pool.py's SIGTERM test) takes the server down: it runs after
every other test of the session, whichever file it is in.

Helpers for tests that start their own long-running processes instead (test_serve.py: a server on
SQLite and ``flows serve``): ``_start_logged`` (own session, default signals, output to a log),
``_wait_healthy``, ``_descendants`` / ``_session_members`` / ``_alive`` (what is left after a
stop), ``_stop_session`` (the finalizer's SIGTERM-then-SIGKILL) and ``_keep_log_files``.
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

REPO = Path(__file__).resolve().parents[2]
POOL_SCRIPT = REPO / "deployments" / "pool.py"
# The second declared model: churn again, learnt from the billing group alone, on its own retrain
# cron. Its gate is lenient (400 customers, billing features only): the pool, not the gate, is tested.
SECOND_MODEL = {"name": "billing", "task": "binary", "label_group": "churn_labels", "label_column": "churned",
                "feature_groups": ["customer_billing"], "as_known": False, "schedule": "15 2 * * *",
                "gate": {"min_auc": 0.0, "max_logloss": 10.0, "max_ece": 1.0, "min_training_rows": 0,
                         "max_latency_ms_per_1k": 1e9, "max_quarantine_share": 1.0}}
DECLARED = ("billing", "churn")  # declared_models' order: by file name


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

    def run_deployment(self, name: str, **parameters: str) -> str:
        """What ``prefect deployment run <name> [--param k=v]`` does, without a CLI process's imports: the id."""
        deployment = self.get(f"/deployments/name/{name}")
        body = {"parameters": parameters} if parameters else {}
        return self.post(f"/deployments/{deployment['id']}/create_flow_run", body)["id"]

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


def _keep_log_files(logs: list[Path], keep: Path) -> None:
    """Copy ``logs`` (those that exist) into ``keep`` and print the last 40 lines of each."""
    keep.mkdir(parents=True, exist_ok=True)
    for log in (p for p in logs if p.exists()):
        shutil.copy2(log, keep / log.name)
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        print(f"\n---- {log.name} (last {len(tail)} lines; full copy in {keep}) ----\n" + "\n".join(tail))


def _keep_logs(state: Path, keep: Path) -> None:
    """Copy the pool's logs out of the data home (which the fixture removes) and print their tails."""
    _keep_log_files(sorted((state / "logs").glob("*.log")) + [state / "supervisor.log"], keep)


# Long-running children started by a test itself (a server, `flows serve`), outside the pool.

def _default_signals() -> None:
    # In the child before exec: a process started from a backgrounded pytest inherits SIGINT
    # ignored; the child under test must see the signals a terminal or a service manager sends.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start_logged(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``argv`` in its own session (so its session id is its pid), stdout and stderr into ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_default_signals)


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: only its parent has not collected it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _proc_stats() -> list[tuple[int, int, int]]:
    """(pid, parent pid, session id) of every live process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":  # state, ppid, pgrp, session, ...
            found.append((int(entry.name), int(fields[1]), int(fields[3])))
    return found


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...)."""
    stats = _proc_stats()
    found, frontier = [], {pid}
    while frontier:
        frontier = {p for p, parent, _ in stats if parent in frontier}
        found.extend(sorted(frontier))
    return found


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``: what a child started by ``_start_logged`` left behind
    (a process orphaned by its parent's exit keeps its session)."""
    return sorted(p for p, _, session in _proc_stats() if session == sid)


def _wait_healthy(api_url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """Until the Prefect server at ``api_url`` answers /health; fails at once if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the Prefect server exited with {process.returncode}:\n"
                                 + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"the Prefect server did not answer on {api_url} within {timeout_s:.0f} s")


def _stop_session(process: subprocess.Popen, grace_s: float = 10) -> None:
    """For finalizers: SIGTERM ``process`` (started by ``_start_logged``), then SIGKILL whatever
    is left of its session after ``grace_s``. Safe on a process that has already exited."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    for pid in _session_members(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def _declare_models(home: Path) -> None:
    """What an operator does before ``pool.py start``: declare the models (the demo's spec written
    out, since a declared file replaces the demo's default, and the second one)."""
    from usecases.models import DEMO_SPEC, ModelSpec, save_spec

    for spec in (DEMO_SPEC, ModelSpec.from_dict(SECOND_MODEL)):
        save_spec(spec, home / "models")


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
    _declare_models(home)
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
