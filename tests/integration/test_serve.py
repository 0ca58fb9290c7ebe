"""``python -m flows serve`` end to end, against its own Prefect server on SQLite (not the pool).

The module's fixture starts ``prefect server start`` on a free 127.0.0.1 port with its own
``PREFECT_HOME`` and a fresh data home (signing key, two days of the demo's drops, day 1 ingested
by hand and adopted by ``watch --baseline``), then ``python -m flows serve`` against it. The tests,
in order:

1. every deployment of ``flows.serve.DEPLOYMENTS`` is on the server, READY, with exactly its cron
   (UTC, active), and every trigger of ``flows.triggers.TRIGGERS`` is an enabled automation that
   runs its deployment with the templated parameters;
2. a drop landed in ``landing/customer_activity/`` and announced by ``watch --once --settle 0`` is
   ingested by the serving process (its flow run COMPLETED, the audit trail verifies and names that
   run, the Delta table holds the rows), and the ingest run's own announcement of the file (origin
   ``ingest``) starts no second ingestion;
3. SIGTERM to the serving process while a flow run of its is starting: it exits 0 within seconds,
   its flow-run process and every other process of its session are gone, the run is left
   CANCELLED (not in flight forever) and the schedules paused; then SIGTERM stops the server the
   same way.

Everything started here is stopped by the fixture's finalizer, even on failure (SIGTERM, then
SIGKILL to whatever is left of each process's session). On a failure the server's and the serving
process's logs are copied into pytest's tmp dir and their tails printed (DRIFTLINE_KEEP_POOL_LOGS=1
keeps them on success too). The phases' times are printed at the end (run with -s).

Run: .venv/bin/python -m pytest -m integration tests/integration/test_serve.py -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Api,
    _alive,
    _descendants,
    _free_port,
    _keep_log_files,
    _run,
    _session_members,
    _start_logged,
    _stop_session,
    _wait_healthy,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

GROUP = "customer_activity"
SERVE_READY = "Your deployments are being served"  # printed by prefect.serve once all are registered
RUN_BOUND_S = 90  # drop announced -> ingest run COMPLETED
STOP_BOUND_S = 15  # SIGTERM -> process gone


class SqliteApi(Api):
    """conftest's ``Api``, retrying what a Prefect server answers 503 (a retryable error: on SQLite,
    "database is locked" while the runner and the triggers write), as Prefect's own client does."""

    def _retrying(self, call):
        for attempt in range(6):
            try:
                return call()
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or attempt == 5:
                    raise
            time.sleep(0.5 * 2 ** attempt)

    def post(self, path: str, body: dict | list) -> list | dict | None:
        return self._retrying(lambda: super(SqliteApi, self).post(path, body))

    def get(self, path: str) -> list | dict:
        return self._retrying(lambda: super(SqliteApi, self).get(path))


@dataclass
class Served:
    home: Path
    env: dict[str, str]  # for CLI processes against this server
    api: SqliteApi
    server: subprocess.Popen
    serve: subprocess.Popen
    logs: Path
    held_back: object  # flows.demo_data.DropFile: the day-2 drop the watcher announces
    phases: list[tuple[str, float]] = field(default_factory=list)

    def phase(self, name: str, started: float) -> None:
        self.phases.append((name, time.monotonic() - started))


def _flows(env: dict[str, str], *args: str) -> str:
    return _run([sys.executable, "-m", "flows", *args], env)


def _wait_for_log(process: subprocess.Popen, log: Path, marker: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if marker in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"{log.name}: the process exited with {process.returncode}:\n"
                                 + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    raise AssertionError(f"{log.name}: no {marker!r} within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    from flows.demo_data import generate_demo

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="driftline-serve-", dir="/tmp"))
    home, prefect_home, logs = root / "home", root / "prefect", root / "logs"
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLINE_"))}
    base.update({"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                 "DRIFTLINE_HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"})
    server_env = {**base, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
                  "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home}/prefect.db"}
    env = {**base, "PREFECT_API_URL": api_url}
    failed_before = request.session.testsfailed
    server = serve = None
    try:
        server = _start_logged([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                "--port", str(port)], server_env, logs / "server.log")
        # While the server starts: the data home (no server needed for any of this).
        _flows(env, "keys", "init")
        drop = generate_demo(root / "demo", customers=200, days=2, seed=11)
        for f in drop.files:
            target = home / "landing" / f.group / f.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if f.day == 1:
                os.replace(f.path, target)
        (held_back,) = [f for f in drop.files if f.day == 2 and f.group == GROUP]
        t = time.monotonic()
        _wait_healthy(api_url, server, logs / "server.log")
        s = Served(home, env, SqliteApi(api_url), server, None, logs, held_back)
        s.phase("server healthy", t)

        t = time.monotonic()
        serve = _start_logged([sys.executable, "-m", "flows", "serve"], env, logs / "serve.log")
        s.serve = serve
        # While serve registers its deployments: day 1 ingested by hand (in-process, against this
        # server) and adopted by the watcher, so the held-back drop is the only thing to announce.
        _flows(env, "ingest")
        _flows(env, "watch", "--baseline")
        s.phase("day 1 ingested by hand, baseline", t)
        _wait_for_log(serve, logs / "serve.log", SERVE_READY, 120)
        s.phase("serve up (from its start)", t)
        s.phase("fixture set-up", started)
        yield s
    finally:
        t = time.monotonic()
        for process in (serve, server):  # the serving process first: it reports to the server
            if process is not None:
                _stop_session(process)
        if request.session.testsfailed > failed_before or os.environ.get("DRIFTLINE_KEEP_POOL_LOGS"):
            _keep_log_files(sorted(logs.glob("*.log")), tmp_path_factory.mktemp("serve-logs"))
        shutil.rmtree(root, ignore_errors=True)
        if "s" in locals():
            s.phase("teardown", t)
            s.phase("whole module", started)
            print("\ntest_serve timings: " + ", ".join(f"{name} {secs:.1f} s" for name, secs in s.phases))


def _deployments(api: Api) -> dict[str, dict]:
    return {d["name"]: d for d in api.post("/deployments/filter", {})}


def test_serve_registers_every_deployment_schedule_and_trigger(served):
    from flows.serve import DEPLOYMENTS, TIMEZONE
    from flows.triggers import TRIGGERS

    api = served.api
    # READY comes with the runner's first poll, just after the start-up message.
    deadline = time.monotonic() + 30
    while True:
        deployments = _deployments(api)
        if (set(deployments) >= {d.name for d in DEPLOYMENTS}
                and all(d["status"] == "READY" for d in deployments.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(deployments) == {d.name for d in DEPLOYMENTS}
    for d in DEPLOYMENTS:
        got = deployments[d.name]
        assert api.get(f"/flows/{got['flow_id']}")["name"] == d.flow
        assert got["entrypoint"] == d.entrypoint
        assert got["status"] == "READY" and not got["paused"], (d.name, got["status"], got["paused"])
        schedules = [(s["schedule"].get("cron"), s["schedule"].get("timezone"), s["active"]) for s in got["schedules"]]
        assert schedules == ([(d.cron, TIMEZONE, True)] if d.cron else []), (d.name, schedules)

    automations = {a["name"]: a for a in api.post("/automations/filter", {})}
    assert set(automations) == {t.deployment for t in TRIGGERS}
    for t in TRIGGERS:
        a = automations[t.deployment]
        assert a["enabled"], t.deployment
        assert a["trigger"]["expect"] == [t.expect]
        assert a["trigger"]["match"] == dict(t.match)
        assert a["trigger"]["posture"] == "Reactive"
        (action,) = a["actions"]
        assert action["type"] == "run-deployment"
        assert action["deployment_id"] == deployments[t.flow]["id"], t.deployment
        assert action["parameters"] == t.prefect_templates()


def _arrivals(api: Api, sha256: str) -> list[dict]:
    return api.post("/events/filter", {"filter": {"event": {"name": ["driftline.data.arrived"]},
                                                  "resource": {"id": [f"driftline.file.{sha256}"]}},
                                       "limit": 10})["events"]


def test_a_drop_announced_by_watch_is_ingested_by_the_serving_process(served):
    from deltalake import DeltaTable

    from driftline.canonical import file_sha256

    api, env, home, drop = served.api, served.env, served.home, served.held_back
    target = home / "landing" / GROUP / drop.path.name
    sha256 = file_sha256(drop.path)
    known = api.known_runs("ingest")
    t = time.monotonic()
    os.replace(drop.path, target)
    out = _flows(env, "watch", "--once", "--settle", "0")
    assert "announced 1 new drop(s)" in out, out
    served.phase("watch --once", t)
    run = api.wait_for_run("ingest", RUN_BOUND_S, known=known)
    served.phase("landed -> ingest COMPLETED", t)
    assert run["parameters"]["paths"] == [str(target.resolve())]

    assert "audit trail ok" in _flows(env, "audit", "verify")
    log = [json.loads(line) for line in (home / "audit" / "log.jsonl").read_text().splitlines()]
    (entry,) = [e for e in log if e["action"] == "ingest" and e["details"]["sha256"] == sha256]
    assert entry["actor"]["flow_run_id"] == run["id"]  # ingested by the served run, not by hand
    details = entry["details"]
    assert details["status"] == "stored" and details["rows_in"] == drop.rows
    assert details["rows_quarantined"] == drop.bad_rows
    assert details["rows_stored"] == drop.rows - drop.bad_rows
    table = DeltaTable(str(home / "store" / GROUP))
    assert table.version() == details["delta_version"] == 1  # day 1 by hand was version 0
    stored = sum(e["details"]["rows_stored"] for e in log
                 if e["action"] == "ingest" and e["subject"] == f"group:{GROUP}")
    assert table.to_pyarrow_dataset().count_rows() == stored

    # The run announced the file itself (origin "ingest"); the trigger must ignore that event. A
    # trigger acts before its event is stored, so once both are queryable a second run would exist.
    deadline = time.monotonic() + 15
    while len(arrivals := _arrivals(api, sha256)) < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert sorted(e["resource"].get("driftline.origin") for e in arrivals) == ["ingest", "watcher"]
    time.sleep(1)
    assert len(api.known_runs("ingest") - known) == 1


def _bulk_drop(served, rows: int = 6_000_000) -> Path:
    """The held-back drop's rows repeated, a day earlier each time, into one large Parquet drop."""
    import polars as pl

    day = served.held_back.path  # moved into landing/ by the drop test, if that ran
    day = day if day.exists() else served.home / "landing" / GROUP / day.name
    frame = pl.read_csv(day, try_parse_dates=True) if day.suffix == ".csv" else pl.read_parquet(day)
    copies = pl.DataFrame({"k": range(rows // frame.height + 1)})
    bulk = (frame.join(copies, how="cross")
            .with_columns(pl.col("event_time") - pl.duration(days=pl.col("k") + 2)).drop("k").head(rows))
    target = served.home / "landing" / GROUP / "bulk.parquet"
    bulk.write_parquet(target)
    return target


def _runs_flow(pid: int, run_id: str) -> bool:
    """Whether process ``pid`` runs flow run ``run_id`` (Prefect's runner sets PREFECT__FLOW_RUN_ID)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"PREFECT__FLOW_RUN_ID={run_id}".encode() in environ


def test_sigterm_stops_serve_and_its_flow_run_then_the_server(served):
    api, serve, server = served.api, served.serve, served.server
    assert serve.poll() is None, "the serving process is not running"
    # A run of its in flight: one with seconds of work (a 6M-row drop waiting in landing/, so that
    # it cannot finish before the signal lands: with 2M rows an idle machine once ingested it within
    # the ~4 s serve takes to stop, and the run ended COMPLETED), and the runner has started its process.
    _bulk_drop(served)
    run_id = api.run_deployment("ingest/ingest")
    # Wait for THIS run's process, not for any child: ingest's own cron ("30 * * * *") once started a
    # scheduled run at hh:30 just as this test ran, and the signal landed while ours was still
    # SCHEDULED. Waiting for our run's state instead came too late (a run is RUNNING once its process
    # has imported Prefect, and it then ingested the drop before serve stopped it): the runner
    # names the run in its process's environment.
    deadline = time.monotonic() + 60
    while not (children := [p for p in _descendants(serve.pid) if _runs_flow(p, run_id)]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children, f"the runner started no flow-run process for {run_id} within 60 s"
    children = _descendants(serve.pid)

    t = time.monotonic()
    os.kill(serve.pid, signal.SIGTERM)
    try:
        code = serve.wait(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"flows serve still running {STOP_BOUND_S} s after SIGTERM") from None
    took = time.monotonic() - t
    served.phase("serve: SIGTERM -> exited", t)
    assert code == 0
    assert [pid for pid in children if _alive(pid)] == [], "flow-run processes outlived flows serve"
    assert _session_members(serve.pid) == [], "processes left in flows serve's session"
    run = api.get(f"/flow_runs/{run_id}")
    assert run["state_type"] in ("CANCELLED", "CRASHED"), f"the in-flight run was left {run['state_type']}"
    assert all(d["paused"] for d in _deployments(api).values()), "serve's shutdown did not pause its schedules"
    print(f"\nflows serve exited {took:.1f} s after SIGTERM ({len(children)} flow-run process(es) stopped, "
          f"run {run['name']} {run['state_type']})")
    # The kill interrupted the run before it wrote anything: the trail still verifies.
    assert "audit trail ok" in _flows(served.env, "audit", "verify")

    t = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the Prefect server still running {STOP_BOUND_S} s after SIGTERM") from None
    served.phase("server: SIGTERM -> exited", t)
    assert _session_members(server.pid) == [], "processes left in the server's session"
