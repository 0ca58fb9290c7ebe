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
abstract sockets, ``SO_PEERCRED``); elsewhere :func:`delegate` returns None. This module is the
command's side and the wire protocol; :mod:`flows.warm_runner` is the runner.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SWITCH = "DRIFTLINE_WARM"  # "0": flow commands never use the warm runner
PACKAGES = ("driftline", "features", "monitoring", "training", "registry", "governance", "usecases", "tasks",
            "flows", "driftline_api", "serving")
# Variables a command sets for itself, or the runner for the server: never a reason to refuse.
OWN = frozenset({"PREFECT_API_URL", "PREFECT_LOGGING_LEVEL", "PREFECT_SERVER_ANALYTICS_ENABLED",
                 "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "DRIFTLINE_LOCAL_API_URL"})
_HEADER = struct.Struct("!I")
STATUS = struct.Struct("!i")  # the exit status the runner sends back
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


def peer_uid(conn: socket.socket) -> int:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(uid)


def peer_pid(conn: socket.socket) -> int:
    pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(pid)


def send(conn: socket.socket, payload: Mapping[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(payload).encode()
    message = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(conn, [message], list(fds))
    else:
        conn.sendall(message)


def recv_exact(conn: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed")
        chunks += chunk
    return chunks


def recv(conn: socket.socket, *, with_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if with_fds:
        head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, with_fds)
        if len(head) < _HEADER.size:
            head += recv_exact(conn, _HEADER.size - len(head))
    else:
        head = recv_exact(conn, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    if size > _MAX_REQUEST:
        for fd in fds:
            os.close(fd)
        raise ConnectionError(f"request of {size} bytes")
    return json.loads(recv_exact(conn, size)), fds


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
        runner = peer_pid(conn)
        if peer_uid(conn) != os.getuid() or not carries(runner, token):
            return None  # not our runner: it gets nothing, the environment least of all
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        send(conn, {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ),
                     "fingerprint": fingerprint(), "encoding": sys.stdout.encoding}, fds=(0, 1, 2))
        answer, _ = recv(conn)
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
            (status,) = STATUS.unpack(recv_exact(conn, STATUS.size))
        except ConnectionError:
            print("internal error: the warm runner ended without the command's exit status "
                  "(python -m flows server stop; then run the command again)", file=sys.stderr)
            return 70
        return int(status)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
