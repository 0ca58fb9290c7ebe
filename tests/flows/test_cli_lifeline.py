"""Children die with their parent: a flow command killed with SIGKILL leaves no process behind,
in particular not Prefect's temporary server (issue 12, item 11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROC = Path("/proc")
pytestmark = pytest.mark.skipif(not PROC.is_dir(), reason="reads /proc")


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process, or None when it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], fields[19]


def _descendants(pid: int) -> dict[int, str]:
    """Every descendant of ``pid`` with its start time (which tells a reused pid apart)."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in (PROC / str(parent) / "task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                if (stat := _stat(child)) is not None and child not in found:
                    found[child] = stat[1]
                    todo.append(child)
    return found


def _alive(pid: int, started: str) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] == started and stat[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_sigkill_of_a_flow_command_leaves_no_temporary_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "DRIFTLINE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    command = subprocess.Popen([sys.executable, "-m", "flows", "--home", str(tmp_path / "home"), "ingest"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while not any("uvicorn" in _cmdline(pid) for pid in seen):
            assert command.poll() is None, "the command ended before its temporary server was seen"
            assert time.monotonic() < deadline, "no temporary server started within 120 s"
            seen.update(_descendants(command.pid))
            time.sleep(0.02)
        # The server is still starting (it answers its health check seconds later): the parent
        # is alive and waiting for it when it is killed.
        seen.update(_descendants(command.pid))
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        deadline = time.monotonic() + 30
        while (left := [pid for pid, started in seen.items() if _alive(pid, started)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"still running after their parent was killed: {[_cmdline(p) for p in left]}"
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        for pid, started in seen.items():
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
