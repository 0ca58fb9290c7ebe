"""A warm runner beside the shared local server: flow commands skip Prefect's import (issue 17).

With the shared server (:mod:`flows.local_server`) a flow command no longer starts a temporary
server, but it still pays for importing Prefect, the flows and the data stack: about 2.5 s of an
``ingest`` with nothing to do, against 0.1 s of work. The supervisor therefore also starts one
*warm runner*: a process that imports all of that once, then waits on a Unix socket. A flow
command (:func:`delegate`) connects, sends its argument list, working folder and environment, and
passes its own stdin, stdout and stderr (``SCM_RIGHTS``); the runner forks a child that takes
them over, installs that environment, refreshes Prefect's settings from it and runs the command's
``main`` as the command itself would have. The child writes to the command's terminal directly
(progress bars see a TTY), and the runner sends back the child's exit status, which the command
exits with. SIGINT, SIGTERM and SIGHUP sent to the command are passed on to the child; a command
that dies (even by SIGKILL) closes the connection, and the runner stops the child (SIGTERM, then
SIGKILL after a grace period), so nothing outlives it.

Why a fork server and not a request to a long-running worker: a fork gives every command a fresh
process with the state of a clean import (nothing leaks from one command to the next), its own
signals and exit code, and the crash-safety the commands already have; only the import is shared.
Forking is refused (the command runs cold, as before) when the runner holds more than one thread
after its imports, since a thread pool that exists only in the parent deadlocks a child.

Trust: the connection carries the command's environment, passphrase included, so both sides
check the other's user id (``SO_PEERCRED``) and the command only talks to a runner that carries
the server's token (:func:`flows.local_server.carries`). The socket is in the abstract namespace
(nothing in the data home to plant or replace); another user squatting its name gets no command,
only a refusal, and the command runs cold. A runner whose code differs from the command's (the
project changed since it started: newest source mtime, interpreter, ``PYTHONPATH``, Prefect
settings in the environment) refuses and the command runs cold. Linux only (``/proc``,
abstract sockets, ``SO_PEERCRED``); elsewhere :func:`delegate` returns None.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SWITCH = "DRIFTLINE_WARM"  # "0": flow commands never use the warm runner
PACKAGES = ("driftline", "features", "monitoring", "training", "registry", "governance", "usecases", "tasks",
            "flows", "driftline_api", "serving")
# Imported once by the runner: Prefect, its engine and driftline's flow plumbing, nothing that starts
# a thread. Not Polars, PyArrow, Delta Lake or NumPy's BLAS: each starts a thread pool on import
# (measured: 3, 2, 1 and 1 threads), and a pool that exists only in the parent deadlocks a forked
# child; nor LightGBM, whose OpenMP runtime must not be loaded in a process that forks. Children
# import those themselves. FastAPI is here because Prefect imports it to serialise a flow's parameters.
PRELOAD = ("prefect", "prefect.flows", "prefect.tasks", "prefect.flow_engine", "prefect.task_engine",
           "prefect.artifacts", "prefect.events", "prefect.events.clients", "prefect.events.worker",
           "prefect.logging.configuration", "prefect.logging.handlers", "prefect.client.orchestration",
           "prefect.results", "prefect.futures", "prefect.task_runners", "prefect.transactions", "prefect.runtime",
           "prefect.exceptions", "fastapi", "pydantic_settings", "driftline.settings", "flows.cli", "flows.local",
           "flows.catalog", "flows.console", "flows.events", "flows.triggers", "flows.lifeline", "flows.local_server")
# Variables a command sets for itself, or the runner for the server: never a reason to refuse.
OWN = frozenset({"PREFECT_API_URL", "PREFECT_LOGGING_LEVEL", "PREFECT_SERVER_ANALYTICS_ENABLED",
                 "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "DRIFTLINE_LOCAL_API_URL"})
GRACE_S = 10.0
_HEADER = struct.Struct("!I")
_STATUS = struct.Struct("!i")
_MAX_REQUEST = 4 << 20
IN_CHILD = False  # set in a runner's child: the command it runs must not delegate again


def socket_name(token: str) -> bytes:
    """The runner's abstract socket address for the server with ``token``."""
    return b"\0driftline-warm-" + token.encode()


def fingerprint(root: Path | None = None) -> dict[str, Any]:
    """What must be equal in runner and command for the runner's imports to be the command's."""
    root = root or Path(__file__).resolve().parent.parent
    newest = 0
    for package in PACKAGES:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(root / package):
                if entry.name.endswith(".py"):
                    newest = max(newest, entry.stat().st_mtime_ns)
    prefect_env = {k: v for k, v in os.environ.items() if k.startswith("PREFECT_") and k not in OWN}
    return {"root": str(root), "newest": newest, "python": sys.executable, "version": sys.version,
            "pythonpath": os.environ.get("PYTHONPATH", ""), "prefect": prefect_env}


def _peer_uid(conn: socket.socket) -> int:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(uid)


def _peer_pid(conn: socket.socket) -> int:
    pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(pid)


def _send(conn: socket.socket, payload: Mapping[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(payload).encode()
    message = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(conn, [message], list(fds))
    else:
        conn.sendall(message)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed")
        chunks += chunk
    return chunks


def _recv(conn: socket.socket, *, with_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if with_fds:
        head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, with_fds)
        if len(head) < _HEADER.size:
            head += _recv_exact(conn, _HEADER.size - len(head))
    else:
        head = _recv_exact(conn, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    if size > _MAX_REQUEST:
        for fd in fds:
            os.close(fd)
        raise ConnectionError(f"request of {size} bytes")
    return json.loads(_recv_exact(conn, size)), fds


# ---- the command's side ----------------------------------------------------------------------------

def delegate(argv: Sequence[str], token: str, *, timeout_s: float = 2.0) -> int | None:
    """Run the command ``argv`` in the warm runner of the server with ``token``; its exit status, or
    None when no runner takes it (none yet, another user's, other code): then run it cold."""
    from flows.local_server import carries

    if IN_CHILD or not Path("/proc").is_dir() or os.environ.get(SWITCH, "").strip() == "0":
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout_s)
        try:
            conn.connect(socket_name(token))
        except OSError:
            return None  # not started yet, or gone: cold
        runner = _peer_pid(conn)
        if _peer_uid(conn) != os.getuid() or not carries(runner, token):
            return None  # not our runner: it gets nothing, the environment least of all
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        _send(conn, {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ),
                     "fingerprint": fingerprint(), "encoding": sys.stdout.encoding}, fds=(0, 1, 2))
        answer, _ = _recv(conn)
        if "pid" not in answer:
            return None  # refused (other code, forking unsafe): cold
        conn.settimeout(None)
        return _wait(conn, int(answer["pid"]))
    except (OSError, ValueError, ConnectionError):
        return None
    finally:
        conn.close()


def _wait(conn: socket.socket, child: int) -> int:
    """Pass this command's signals on to ``child`` until the runner reports its exit status."""
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(child, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        try:
            (status,) = _STATUS.unpack(_recv_exact(conn, _STATUS.size))
        except ConnectionError:
            print("internal error: the warm runner ended without the command's exit status "
                  "(python -m flows server stop; then run the command again)", file=sys.stderr)
            return 70
        return int(status)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# ---- the runner's side -----------------------------------------------------------------------------

def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def _child(request: Mapping[str, Any], fds: Sequence[int], entry: str) -> int:
    """In the forked child: become the command (its fds, folder, environment, signals) and run it."""
    global IN_CHILD
    IN_CHILD = True
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    encoding = str(request.get("encoding") or "utf-8")
    sys.stdin = open(0, encoding=encoding, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stdout = open(1, "w", encoding=encoding, buffering=1 if os.isatty(1) else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding=encoding, errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["python -m flows", *request["argv"]]
    # Prefect's settings and logging were made from the runner's environment when it imported them:
    # the command refreshes the settings once it has set its variables (flows.cli_runs), and sets
    # up logging again at its own level.
    if "prefect.logging.configuration" in sys.modules:
        sys.modules["prefect.logging.configuration"].PROCESS_LOGGING_CONFIG.clear()
    module, _, function = entry.partition(":")
    return int(getattr(importlib.import_module(module), function)(list(request["argv"])) or 0)


def _status(wait_status: int) -> int:
    return os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else 128 + os.WTERMSIG(wait_status)


class Runner:
    """The runner's loop: accept, check, fork, watch each command's connection, report statuses."""

    def __init__(self, name: bytes, entry: str, preload: Sequence[str]) -> None:
        self.entry = entry
        started = time.monotonic()
        for module in preload:
            importlib.import_module(module)
        self.ready_s = time.monotonic() - started
        self.fingerprint = fingerprint()
        self.threads = _thread_count()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(name)
        self.listener.listen(16)
        self.children: dict[int, socket.socket] = {}  # child pid -> its command's connection
        self.doomed: dict[int, float] = {}  # child pid -> when SIGTERM turns into SIGKILL
        self.stopping = False
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)

    def refusal(self, conn: socket.socket, request: Mapping[str, Any]) -> str | None:
        if _peer_uid(conn) != os.getuid():
            return "another user"
        if request.get("fingerprint") != self.fingerprint:
            return "the command's code or settings differ from the runner's"
        if self.threads > 1 or _thread_count() > 1:
            return f"the runner holds {max(self.threads, _thread_count())} threads; forking would be unsafe"
        return None

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(5.0)
        fds: list[int] = []
        try:
            request, fds = _recv(conn, with_fds=3)
            reason = self.refusal(conn, request) or (None if len(fds) == 3 else "no streams passed")
            if reason is not None:
                print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} refused a command: {reason}", flush=True)
                _send(conn, {"refused": reason})
                conn.close()
                return
            pid = os.fork()
            if pid == 0:  # the child: never returns into this loop
                code = 70
                streams, fds = fds, []  # the child's now: the finally below must not close them again
                try:
                    self.selector.close()
                    self.listener.close()
                    for other in self.children.values():
                        other.close()
                    conn.close()
                    code = _child(request, streams, self.entry)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except BaseException:  # noqa: BLE001 - main() owns errors; this is the last edge
                    import traceback

                    traceback.print_exc()
                finally:
                    with contextlib.suppress(Exception):
                        sys.stdout.flush()
                        sys.stderr.flush()
                sys.exit(code)  # not os._exit: Prefect's atexit hooks (its events' last flush) must run
            self.children[pid] = conn
            print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} command of pid {_peer_pid(conn)} runs as pid {pid}",
                  flush=True)
            _send(conn, {"pid": pid})
            conn.settimeout(None)
            self.selector.register(conn, selectors.EVENT_READ, pid)
        except (OSError, ValueError, ConnectionError):
            conn.close()
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def command_gone(self, pid: int) -> None:
        """The command closed its connection (ended, killed): stop its child, SIGKILL after a grace."""
        conn = self.children.get(pid)
        if conn is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        self.doomed.setdefault(pid, time.monotonic() + GRACE_S)

    def kill_lingering(self) -> None:
        now = time.monotonic()
        for pid, deadline in list(self.doomed.items()):
            if pid not in self.children:
                del self.doomed[pid]
            elif now > deadline:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def reap(self) -> None:
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(OSError):
                conn.sendall(_STATUS.pack(_status(wait_status)))
            conn.close()

    def serve(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda _s, _f: setattr(self, "stopping", True))
        print(f"warm runner ready in {self.ready_s:.1f} s, {self.threads} thread(s)", flush=True)
        while not self.stopping:
            for key, _events in self.selector.select(timeout=0.2):
                if key.fileobj is self.listener:
                    self.accept()
                else:
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    with contextlib.suppress(OSError):
                        if conn.recv(1, socket.MSG_PEEK) == b"":
                            self.command_gone(int(key.data))
            self.reap()
            self.kill_lingering()
        for pid in list(self.children):  # the server stops: commands running in it stop too
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        while self.children and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for pid in list(self.children):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        return 0


def main(argv: Sequence[str]) -> int:
    """``python -m flows.warm TOKEN [ENTRY [PRELOAD,...]]``: run a warm runner until SIGTERM."""
    entry = argv[1] if len(argv) > 1 else "flows.cli:main"
    preload = tuple(filter(None, argv[2].split(","))) if len(argv) > 2 else PRELOAD
    return Runner(socket_name(argv[0]), entry, preload).serve()


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: IN_CHILD must be set where flows.cli reads it.
    from flows import warm

    raise SystemExit(warm.main(sys.argv[1:]))
