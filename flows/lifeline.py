"""Children die with their parent: a watchdog over every process a flow command starts.

Prefect starts its temporary server (uvicorn) as a child process and stops it from an ``atexit``
hook, which never runs when the command is killed with SIGKILL: the server then lived on,
orphaned, every time. :func:`tie_children_to_this_process`, called from the CLI before Prefect is
imported, marks this process's environment with a fresh token, which every process started
afterwards inherits (Prefect hands its server ``os.environ``), and starts a small watchdog
holding the read end of a pipe whose write end only this process holds. However this process
ends, the kernel closes that write end; the watchdog reads end-of-file and stops every process
still carrying the token (SIGTERM, then SIGKILL for any that lingers), then exits itself.

Why not ``prctl(PR_SET_PDEATHSIG)`` in the child: Prefect spawns the server with no hook to set
it (no ``preexec_fn``) and from whichever thread first needs a client, and the signal fires when
that *thread* exits, not the process; it also reaches direct children only. The token covers
grandchildren too and does not care who forked. Linux only (it reads ``/proc``); elsewhere this
is a no-op. Prefect-free: it runs as ``python -m flows.lifeline FD TOKEN``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

TOKEN_VARIABLE = "DRIFTLINE_LIFELINE"
PROC = Path("/proc")
GRACE_S = 5.0  # how long a server gets to stop on SIGTERM before it is killed


def tie_children_to_this_process() -> None:
    """Start the watchdog once per process; every process started from now on dies with this one."""
    # The token starts with our pid, so a child CLI (which inherits our token) starts its own.
    if not PROC.is_dir() or os.environ.get(TOKEN_VARIABLE, "").startswith(f"{os.getpid()}-"):
        return
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    read_end, write_end = os.pipe()  # both non-inheritable: no other child holds the write end
    # The watchdog carries no token itself: an outer command's watchdog must not stop this one's.
    env = {k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE}
    subprocess.Popen([sys.executable, "-m", "flows.lifeline", str(read_end), token], pass_fds=[read_end], env=env,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(read_end)
    os.environ[TOKEN_VARIABLE] = token
    # write_end stays open, unused, until this process ends: its closing is the signal.


def _carriers(token: str) -> list[int]:
    """Processes (other than this one) whose environment carries ``token``."""
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def stop_carriers(token: str, *, grace_s: float = GRACE_S) -> None:
    """SIGTERM every carrier of ``token``; SIGKILL those still there after ``grace_s``."""
    _signal_all(_carriers(token), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (left := _carriers(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_all(left, signal.SIGKILL)


def _watch(fd: int, token: str) -> None:
    # A Ctrl-C or a closed terminal reaches the whole process group: outlive the parent, then clean.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while os.read(fd, 1):
        pass
    stop_carriers(token)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2])
