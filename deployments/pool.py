"""The pool recipe: PostgreSQL, a Prefect server, the ``driftline-pool`` work pool, deployments
and N supervised process workers, started and stopped with one command each.

    python deployments/pool.py start [--workers N] [--port 4300] [--pg-port 5433] [--sqlite]
    eval "$(python deployments/pool.py env)"     # PREFECT_API_URL etc. for watch / prefect CLI
    python deployments/pool.py stop

``start`` initialises and starts the cluster (see ``postgres.py``), then launches this script's
``supervise`` command in the background and returns once it reports ready. The supervisor starts
``prefect server start`` on 127.0.0.1 against the ``prefect`` database, creates the process work
pool, renders the deployments for the models declared in the data home (``<home>/models/*.toml``,
the demo's ``churn`` when none is) into ``state/pool/prefect.yaml`` and runs ``prefect deploy
--all`` from it (``--prefect-file`` deploys a given file instead), and starts the workers with
worker and runner polling tuned to 1 s; every flow run sees ``DRIFTLINE_HOME`` and
``DRIFTLINE_TRAINING__STORAGE`` (the ``optuna`` database), so one study's trials spread over the
workers. SIGTERM to the supervisor (what ``stop`` sends) stops workers, then the server; ``stop``
then stops PostgreSQL. State and logs live in ``$DRIFTLINE_HOME/state/pool/``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from postgres import Cluster, PostgresError
from supervisor import Supervisor, group_alive, on_stop_signals

REPO = Path(__file__).resolve().parents[1]
POOL = "driftline-pool"
# Polling tuned from Prefect's 10 s defaults: an event-triggered run is picked up within ~1 s.
POLLING = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home or os.environ.get("DRIFTLINE_HOME", ".driftline")).expanduser().resolve()


def _state_dir(home: Path) -> Path:
    return home / "state" / "pool"


def _cluster(home: Path, pg_port: int) -> Cluster:
    return Cluster(home / "pg", _state_dir(home), pg_port)


def _env(home: Path, port: int, cluster: Cluster | None) -> dict[str, str]:
    """What the server, the workers and every flow run see."""
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **POLLING,
           "PREFECT_HOME": str(_state_dir(home) / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
           "DRIFTLINE_HOME": str(home), "DRIFTLINE_REPO": str(REPO)}
    # Workers share cores with the server and each other: OpenMP threads must sleep, not spin.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if cluster is not None:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = cluster.url("prefect", "asyncpg")
        env["DRIFTLINE_TRAINING__STORAGE"] = cluster.url("optuna", "psycopg")
    else:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{_state_dir(home) / 'prefect.db'}"
    return env


def _prefect(*argv: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *argv]


def _wait_healthy(url: str, server, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with {server.process.returncode}; see server.log")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer on {url} within {timeout_s:.0f} s")


def _render_declared(home: Path, target: Path) -> list[str]:
    """The command that renders prefect.yaml with one schedule per model declared in ``home``
    (deployments/prefect.yaml, committed, schedules the demo's model only)."""
    return [sys.executable, "-m", "flows", "--home", str(home), "deployments", "render", "--declared",
            "--write", "--file", str(target)]


def _setup(env: dict[str, str], log_dir: Path, prefect_file: str | None) -> None:
    """Create the work pool and deploy every deployment of prefect.yaml onto it: the given file, or
    one rendered now for the data home's declared models."""
    steps = [("work-pool create", _prefect("work-pool", "create", POOL, "--type", "process", "--overwrite"))]
    if prefect_file is None:
        rendered = log_dir.parent / "prefect.yaml"
        steps.append(("rendering the declared models' deployments (a model spec that does not load?)",
                      _render_declared(Path(env["DRIFTLINE_HOME"]), rendered)))
        prefect_file = str(rendered)
    steps.append(("deploy --all", _prefect("--no-prompt", "deploy", "--all", "--prefect-file", prefect_file)))
    with open(log_dir / "setup.log", "ab") as log:
        for label, argv in steps:
            if subprocess.run(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode:
                raise RuntimeError(f"{label} failed; see {log_dir / 'setup.log'}")


def supervise(args: argparse.Namespace) -> int:
    home = _home(args)
    state = _state_dir(home)
    cluster = None if args.sqlite else _cluster(home, args.pg_port)
    env = _env(home, args.port, cluster)
    sup = Supervisor(state / "logs", grace_s=args.grace)
    stopping: list[int] = []
    on_stop_signals(stopping.append)
    status = 0
    try:
        server = sup.start("server", _prefect("server", "start", "--host", "127.0.0.1", "--port", str(args.port)),
                           env, REPO)
        _wait_healthy(env["PREFECT_API_URL"], server)
        _setup(env, state / "logs", args.prefect_file)
        workers = [sup.start(f"worker-{i}", _prefect("worker", "start", "--pool", POOL, "--type", "process",
                                                     "--name", f"driftline-worker-{i}"), env, REPO)
                   for i in range(1, args.workers + 1)]
        _write_json(state / "pool.json", {
            "supervisor": os.getpid(), "server": server.pid, "workers": [w.pid for w in workers],
            "api_url": env["PREFECT_API_URL"], "home": str(home), "port": args.port,
            "pg_port": None if cluster is None else args.pg_port,
            "env": {k: env[k] for k in ("PREFECT_API_URL", "DRIFTLINE_HOME", "DRIFTLINE_REPO",
                                        "DRIFTLINE_TRAINING__STORAGE", *POLLING) if k in env}})
        reported: set[int] = set()
        while not stopping:
            if server.process.poll() is not None:
                print(f"the Prefect server exited with {server.process.returncode}", file=sys.stderr)
                status = 1
                break
            for child in sup.exited():  # a dead worker serves no runs: say so once, in supervisor.log
                if child.pid not in reported:
                    reported.add(child.pid)
                    print(f"{child.name} exited with {child.process.returncode}; see logs/{child.name}.log "
                          f"({len(workers) - len(reported)} of {len(workers)} workers left)", file=sys.stderr)
            time.sleep(0.5)
    except Exception as exc:  # the script's edge: one line, the logs have the rest
        print(f"pool supervisor: {exc}", file=sys.stderr)
        status = 1
    finally:
        # Workers first (they need the server to report their runs' end), then the server.
        sup.stop([c for c in sup.children if c.name.startswith("worker")])
        sup.stop()
        (state / "pool.json").unlink(missing_ok=True)
    return status


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.chmod(0o600)  # holds the database password in DRIFTLINE_TRAINING__STORAGE
    os.replace(tmp, path)


def start(args: argparse.Namespace) -> int:
    home = _home(args)
    state = _state_dir(home)
    state.mkdir(parents=True, exist_ok=True)
    ready = state / "pool.json"
    if ready.exists() and group_alive(json.loads(ready.read_text())["supervisor"]):
        print(f"the pool is already running (see {ready}); stop it first", file=sys.stderr)
        return 1
    ready.unlink(missing_ok=True)
    if not args.sqlite:
        cluster = _cluster(home, args.pg_port)
        cluster.init()
        cluster.start()
        cluster.ensure_databases()
    argv = [sys.executable, str(Path(__file__).resolve()), "--home", str(home), "supervise",
            "--workers", str(args.workers), "--port", str(args.port), "--pg-port", str(args.pg_port),
            "--grace", str(args.grace)] + (["--sqlite"] if args.sqlite else []) + (
            ["--prefect-file", args.prefect_file] if args.prefect_file else [])
    with open(state / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=REPO)
    (state / "supervisor.pid").write_text(str(proc.pid), encoding="utf-8")
    deadline = time.monotonic() + args.timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"the pool did not start; see {state / 'supervisor.log'} and {state / 'logs'}", file=sys.stderr)
            stop(args)
            return 1
        time.sleep(0.5)
    info = json.loads(ready.read_text())
    print(f"pool up: server {info['api_url']} ({'SQLite' if args.sqlite else 'PostgreSQL'}), "
          f"{len(info['workers'])} worker(s) on {POOL}; run: eval \"$(python deployments/pool.py env)\"")
    return 0


def stop(args: argparse.Namespace) -> int:
    home = _home(args)
    state = _state_dir(home)
    pidfile = state / "supervisor.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + args.grace * 2 + 10
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
    if (home / "pg" / "data").exists():
        _cluster(home, args.pg_port).stop()
    print("pool stopped")
    return 0


def env(args: argparse.Namespace) -> int:
    ready = _state_dir(_home(args)) / "pool.json"
    if not ready.exists():
        print("the pool is not running: python deployments/pool.py start", file=sys.stderr)
        return 1
    for key, value in json.loads(ready.read_text())["env"].items():
        print(f"export {key}='{value}'")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python deployments/pool.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="data home (default DRIFTLINE_HOME or ./.driftline)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, handler in (("start", start), ("supervise", supervise), ("stop", stop), ("env", env)):
        p = sub.add_parser(name)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--port", type=int, default=4300, help="Prefect server port (127.0.0.1)")
        p.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL port (127.0.0.1)")
        p.add_argument("--sqlite", action="store_true", help="Prefect on SQLite, no PostgreSQL (Optuna stays local)")
        p.add_argument("--grace", type=float, default=10.0, help="seconds a child gets to stop before SIGKILL")
        p.add_argument("--prefect-file", default=None,
                       help="deployments to deploy (path from the repository root; default: rendered "
                            "into state/pool/prefect.yaml for the data home's declared models)")
        p.add_argument("--timeout", type=float, default=240.0, help="seconds start waits for the pool")
        p.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except PostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
