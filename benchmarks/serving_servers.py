"""The processes of ``bench_serving.py``: MLflow's virtual environment, the two servers, and wrk.

Each server runs in a process group of its own (``start_new_session``), is waited for on its
health endpoint, and is stopped on leaving its ``with`` block, whatever happened inside: SIGTERM to
the whole group (uvicorn's workers and anything they started), SIGKILL to the group if it has not
exited within 20 s. A server that dies while starting is reported with the tail of its log. MLflow
lives in a cached virtual environment of its own, keyed by the LightGBM version driftline uses (the
same version on both sides is what makes the predictions equal bit for bit); it is built once,
with ``pip install mlflow lightgbm==X pandas`` from PyPI, and marked complete only when pip ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "serving_post.lua"
START_TIMEOUT_S = 300.0  # a loaded 2-core machine imports MLflow or Prefect slowly; a dead server fails at once


def cache_folder() -> Path:
    return Path(os.environ.get("DRIFTLINE_BENCH_CACHE", Path.home() / ".cache" / "driftline-bench"))


def mlflow_python() -> Path:
    """The python of the cached MLflow environment, created (with pip) when missing."""
    import lightgbm

    venv = cache_folder() / f"mlflow-venv-lgb{lightgbm.__version__}"
    python, done = venv / "bin" / "python", venv / ".complete"
    if not done.exists():
        print(f"creating MLflow's virtual environment in {venv} (once; pip, a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "mlflow",
                        f"lightgbm=={lightgbm.__version__}", "pandas"], check=True)
        done.write_text("pip install mlflow lightgbm pandas ended\n")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A running server: its name in the table and its base URL."""

    name: str
    base: str

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url(path), timeout=30) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: bytes) -> dict:
        request = urllib.request.Request(self.url(path), data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it has not exited in 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # a worker left by a leader that exited first
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def _serving(name: str, argv: list[str], port: int, ready_path: str, log: Path,
             env: dict[str, str] | None = None) -> Iterator[Server]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        server = Server(name, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(server.url(ready_path)):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"{name} did not become ready on {server.url(ready_path)} "
                                 f"(exit code {process.poll()}); its log {log} ends:\n{tail}")
            time.sleep(0.2)  # polling a start-up, not timing anything
        yield server
    finally:
        died = process.poll()
        _stop(process)
        if died is not None:  # it should have been running until now: say how it ended, not only "refused"
            how = f"signal {-died}" if died < 0 else f"exit code {died}"
            print(f"{name} ended on its own ({how}) before the benchmark stopped it; its log {log} ends:\n"
                  f"{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)


def mlflow_server(model_dir: Path, logs: Path) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    mlflow = mlflow_python().parent / "mlflow"
    argv = [str(mlflow), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
            "--host", "127.0.0.1", "--port", str(port)]
    # MLflow starts ``uvicorn`` by name through bash: its environment's bin/ must come first on PATH.
    env = {**os.environ, "PATH": os.pathsep.join([str(mlflow.parent), os.environ.get("PATH", "")]),
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    return _serving("mlflow", argv, port, "/ping", logs / "mlflow.log", env)


def driftline_server(home: Path, model: str, logs: Path, env: dict[str, str],
                     extra: list[str]) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "flows", "--home", str(home), "predict-server", "--host", "127.0.0.1",
            "--port", str(port), "--model", model, *extra]
    return _serving("driftline", argv, port, "/v2/health/ready", logs / "driftline.log", env)


def run_wrk(url: str, body: Path, connections: int, seconds: float) -> dict:
    """One wrk run of ``seconds`` with ``connections`` keep-alive connections on one thread."""
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_CONTENT_TYPE": "application/json"}
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
            "-s", str(LUA), url]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 120)
    except FileNotFoundError as exc:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (see benchmarks/README.md)") from exc
    if done.returncode != 0:
        raise SystemExit(f"wrk {url} failed ({done.returncode}): {(done.stdout + done.stderr).strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
