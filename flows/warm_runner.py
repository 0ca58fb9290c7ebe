"""The warm runner's side of :mod:`flows.warm`: import once, then fork a child per command.

``python -m flows.warm_runner TOKEN [ENTRY [PRELOAD,...]]`` imports :data:`PRELOAD`, listens on the
abstract socket of the server's token, and for each command it accepts (same user, same code and
Prefect settings, a single-threaded parent) forks a child that takes over the command's streams,
folder and environment and runs ``ENTRY`` (``flows.cli:main``). The runner watches each command's
connection: when it closes before the child ended, the child gets SIGTERM, then SIGKILL after
:data:`GRACE_S`; when the child ends, its exit status goes back to the command. On SIGTERM the
runner stops the children still running and exits.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from flows import warm
from flows.warm import STATUS, fingerprint, peer_pid, peer_uid, recv, send, socket_name

GRACE_S = 10.0

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

def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def _child(request: Mapping[str, Any], fds: Sequence[int], entry: str) -> int:
    """In the forked child: become the command (its fds, folder, environment, signals) and run it."""
    warm.IN_CHILD = True
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
        if peer_uid(conn) != os.getuid():
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
            request, fds = recv(conn, with_fds=3)
            reason = self.refusal(conn, request) or (None if len(fds) == 3 else "no streams passed")
            if reason is not None:
                print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} refused a command: {reason}", flush=True)
                send(conn, {"refused": reason})
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
            print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} command of pid {peer_pid(conn)} runs as pid {pid}",
                  flush=True)
            send(conn, {"pid": pid})
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
                conn.sendall(STATUS.pack(_status(wait_status)))
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
    """``python -m flows.warm_runner TOKEN [ENTRY [PRELOAD,...]]``: run a warm runner until SIGTERM."""
    entry = argv[1] if len(argv) > 1 else "flows.cli:main"
    preload = tuple(filter(None, argv[2].split(","))) if len(argv) > 2 else PRELOAD
    return Runner(socket_name(argv[0]), entry, preload).serve()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
