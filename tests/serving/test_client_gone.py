"""A client that hangs up before its answer is written must not take the server down.

Load generators, timeouts and impatient callers close connections with requests in flight; the
server then writes to a socket whose peer reset it. The CLI gives SIGPIPE its default action (so
``registry list | head`` ends quietly), under which that write killed the whole server process
(signal 13, not a line in its log): ``benchmarks/bench_serving.py`` met it at the end of wrk runs of
1,000-row requests on 4 connections. The race that triggers it depends on uvicorn's flow control
and the kernel's timing, so this test checks the cause, which is deterministic: the running
server's signal mask (``/proc/PID/status``, ``SigIgn``) must ignore SIGPIPE, so that a write to a
reset connection is an ``EPIPE`` error on that connection alone.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.serving.homes import ServerProcess


def _ignored(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    raise AssertionError(f"/proc/{pid}/status has no SigIgn line")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from Linux's /proc")
def test_the_server_ignores_sigpipe_so_a_closed_connection_cannot_kill_it(served_home) -> None:
    with ServerProcess(served_home) as server:
        assert server.proc is not None
        assert int(signal.SIGPIPE) in _ignored(server.proc.pid), "SIGPIPE kills the server on a reset connection"
        assert httpx.get(f"{server.url}/v2/health/live", timeout=10).status_code == 200
        code, _, err = server.stop()
    assert code == 0, err[-2000:]
