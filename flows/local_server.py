"""A local Prefect server shared by the flow commands of one data home (issue 17).

Without it every flow command starts Prefect's temporary server and stops it again: ~20 s of a
27 s ``ingest`` that had nothing to do. With it, ``python -m flows server start`` (or the first
flow command when ``DRIFTLINE_LOCAL_SERVER`` is on) starts one ``prefect server start`` for the
home, and later commands point ``PREFECT_API_URL`` at it (:func:`attach`) instead.

Shape: a small supervisor process (``python -m flows.local_server``), started in its own session
so it outlives the command that started it, starts the server on 127.0.0.1 and a random free
port, with its own ``PREFECT_HOME`` and SQLite database under ``<home>/state/server/``, and writes
``<home>/state/server.json`` (supervisor pid, port, token) once the server answers. The supervisor
ties the server to itself with :mod:`flows.lifeline`, so a killed supervisor leaves no server.
It stops the server, removes the state file and exits on ``server stop`` (SIGTERM), when the
server dies, or after ``idle_s`` without a command (idle timeout, 30 min by default): a command
holds a lease file ``state/server/leases/<pid>`` while it runs, so a long training run is never
idle. Every process of the server carries ``DRIFTLINE_LOCAL_SERVER_TOKEN=<token>`` in its
environment; a state file whose pid no longer carries its token (dead, or the pid reused) is
stale and is removed by whoever reads it. Prefect-free: it runs Prefect only as a subprocess.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from driftline.atomic import fault_point, write_atomic
from driftline.errors import ConfigError
from driftline.home import DataHome

SWITCH = "DRIFTLINE_LOCAL_SERVER"  # "1": flow commands start the shared server on first use
TOKEN = "DRIFTLINE_LOCAL_SERVER_TOKEN"  # carried by the supervisor and every process under it
WARM_SWITCH = "DRIFTLINE_WARM"  # "0": no warm runner (flows.warm)
LOCAL_API = "DRIFTLINE_LOCAL_API_URL"  # set by attach(): flows.local keeps heartbeats off against it
IDLE_S = 1800.0
START_TIMEOUT_S = 240.0  # a cold Prefect server on a busy 2-core machine took up to ~40 s
GRACE_S = 10.0
PROC = Path("/proc")
PORT = "{port}"  # placeholder in a server command line, replaced by the free port found


@dataclass(frozen=True)
class ServerState:
    """What ``<home>/state/server.json`` holds; ``ServerState(**json.loads(file)) == state``."""

    pid: int  # the supervisor's
    port: int
    token: str
    idle_s: float
    started: float

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


def state_file(home: DataHome) -> Path:
    return home.state / "server.json"


def server_dir(home: DataHome) -> Path:
    """The server's own folder: PREFECT_HOME, its database, logs, the commands' leases."""
    return home.state / "server"


def carries(pid: int, token: str) -> bool:
    """Whether process ``pid`` is alive and carries ``token`` (a reused pid does not)."""
    if not PROC.is_dir():  # no /proc: liveness only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        return f"{TOKEN}={token}".encode() in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def carriers(token: str) -> list[int]:
    """Every process (but this one) carrying ``token``."""
    if not PROC.is_dir():
        return []
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit() and int(p.name) != os.getpid()
            and carries(int(p.name), token)]


def read_state(home: DataHome) -> ServerState | None:
    """The running server of ``home``, or None; a stale or unreadable state file is removed."""
    path = state_file(home)
    try:
        state = ServerState(**json.loads(path.read_text(encoding="utf-8")))
        if not (isinstance(state.pid, int) and isinstance(state.port, int) and isinstance(state.token, str)):
            raise TypeError("wrong field types")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):  # torn by hand or by a foreign writer: nothing runs from it
        path.unlink(missing_ok=True)
        return None
    if not carries(state.pid, state.token):
        path.unlink(missing_ok=True)  # stale: its supervisor is gone (killed, machine restarted)
        return None
    return state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prefect_server(port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]


@contextlib.contextmanager
def _start_lock(home: DataHome) -> Iterator[None]:
    # Two commands starting at once must not start two servers: the second waits, then reuses.
    folder = server_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "start.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def start(home: DataHome, *, idle_s: float = IDLE_S, server_argv: Sequence[str] | None = None,
          timeout_s: float = START_TIMEOUT_S) -> tuple[ServerState, bool]:
    """The home's running server, started if none is: (state, whether this call started it).
    ``server_argv`` replaces ``prefect server start`` (``{port}`` is replaced); tests use it."""
    if idle_s <= 0:
        raise ConfigError(f"the idle timeout must be positive, got {idle_s}", hint="give a number of minutes > 0")
    home.ensure()  # never a server folder inside a foreign folder: ensure() refuses one
    with _start_lock(home):
        if (running := read_state(home)) is not None:
            return running, False
        token = secrets.token_hex(12)
        # Detached from this command: its own session, and without this command's lifeline token
        # (flows.lifeline would otherwise stop it when the command ends).
        env = {k: v for k, v in os.environ.items() if k not in ("DRIFTLINE_LIFELINE", "PREFECT_API_URL")}
        env[TOKEN] = token
        argv = [sys.executable, "-m", "flows.local_server", str(home.root), str(idle_s),
                json.dumps(list(server_argv) if server_argv else None)]
        with open(server_dir(home) / "supervisor.log", "ab") as log:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while (state := read_state(home)) is None or state.token != token:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop_token(token)
                raise ConfigError(f"the local Prefect server did not start within {timeout_s:.0f} s "
                                  f"(supervisor {'exited' if proc.poll() is not None else 'still waiting'})",
                                  hint=f"see {server_dir(home) / 'server.log'} and supervisor.log")
            time.sleep(0.2)
        return state, True


def _stop_token(token: str, grace_s: float = GRACE_S) -> None:
    """SIGTERM every carrier of ``token``, SIGKILL what is left after ``grace_s``."""
    for pid in carriers(token):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (left := carriers(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def stop(home: DataHome, *, grace_s: float = GRACE_S) -> ServerState | None:
    """Stop the home's server (the supervisor stops it on SIGTERM); None when none was running."""
    state = read_state(home)
    if state is None:
        return None
    with contextlib.suppress(OSError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s * 2
    while carriers(state.token) and time.monotonic() < deadline:
        time.sleep(0.1)
    _stop_token(state.token, grace_s=1.0)  # whatever a wedged supervisor left
    state_file(home).unlink(missing_ok=True)
    return state


@contextlib.contextmanager
def attach(home: DataHome) -> Iterator[ServerState | None]:
    """Point this command's Prefect at the home's shared server (started here when ``SWITCH`` is
    on and none runs) and hold a lease on it while the command runs; yield None (Prefect's
    temporary server) when no shared server applies. Call before Prefect is imported."""
    if os.environ.get("PREFECT_API_URL"):  # the user points at a server of their own: it wins
        yield None
        return
    state = read_state(home)
    if state is None and os.environ.get(SWITCH, "").strip().lower() in ("1", "true", "yes", "on"):
        state, _ = start(home)
    if state is None:
        yield None
        return
    saved = {name: os.environ.get(name) for name in ("PREFECT_API_URL", LOCAL_API)}
    os.environ["PREFECT_API_URL"] = os.environ[LOCAL_API] = state.api_url
    lease = server_dir(home) / "leases" / str(os.getpid())
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.touch()
    try:
        yield state
    finally:
        lease.unlink(missing_ok=True)
        (server_dir(home) / "leases").touch()  # the idle clock starts when the last command ends
        for name, value in saved.items():  # as it was: nothing later is pointed at a server gone by then
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _idle_for(home: DataHome) -> float:
    """Seconds since the last command let go of the server; 0 while one holds a lease."""
    leases = server_dir(home) / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    for lease in leases.iterdir():
        if lease.name.isdigit() and PROC.is_dir() and not (PROC / lease.name).exists():
            lease.unlink(missing_ok=True)  # its command was killed: it holds nothing
            continue
        return 0.0
    return time.time() - leases.stat().st_mtime


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def supervise(home: DataHome, idle_s: float, server_argv: Sequence[str] | None) -> int:
    """The supervisor's life: start the server, publish its state, stop it when told or idle."""
    from flows.lifeline import tie_children_to_this_process

    tie_children_to_this_process()  # the server dies with this process, even on SIGKILL
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: stopping.append(s))
    folder = server_dir(home)
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect"), "PREFECT_SERVER_API_HOST": "127.0.0.1",
           "PREFECT_SERVER_API_PORT": str(port), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder / 'prefect.db'}"}
    argv = [a.replace(PORT, str(port)) for a in server_argv] if server_argv else _prefect_server(port)
    state = ServerState(os.getpid(), port, os.environ[TOKEN], idle_s, time.time())
    with open(folder / "server.log", "ab") as log:
        server = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    published = False
    runner: subprocess.Popen[bytes] | None = None
    try:
        while not stopping and server.poll() is None and not published:
            published = _healthy(state.api_url)
            if not published:
                time.sleep(0.2)
        if not published:
            return 1
        fault_point("local_server.before_state")
        write_atomic(state_file(home), json.dumps(asdict(state), sort_keys=True).encode(), mode=0o600,
                     staged="local_server.state_staged")
        (folder / "leases").mkdir(parents=True, exist_ok=True)
        (folder / "leases").touch()
        if server_argv is None and os.environ.get(WARM_SWITCH, "").strip() != "0":
            runner = _start_runner(state, folder)
        while not stopping and server.poll() is None and _idle_for(home) < idle_s:
            time.sleep(0.5)
        return 0
    finally:
        if runner is not None:
            _end(runner)
        with contextlib.suppress(FileNotFoundError, ValueError, TypeError, OSError):
            if json.loads(state_file(home).read_text())["token"] == state.token:
                state_file(home).unlink()
        _end(server)


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_runner(state: ServerState, folder: Path) -> subprocess.Popen[bytes]:
    """The warm runner (:mod:`flows.warm_runner`): Prefect and the flows imported once, forked per command.
    It carries the server's token (commands check it) and dies with this supervisor (its lifeline)."""
    env = {**os.environ, "PREFECT_API_URL": state.api_url, LOCAL_API: state.api_url}
    with open(folder / "runner.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "flows.warm_runner", state.token], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    raise SystemExit(supervise(DataHome(Path(sys.argv[1])), float(sys.argv[2]), json.loads(sys.argv[3])))
