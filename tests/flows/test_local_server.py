"""The local server shared by a data home's flow commands (issue 17): start, reuse, stop, stale
state, a killed supervisor or server, the idle timeout, a kill while the state is written, and no
process left behind. A tiny HTTP server stands in for ``prefect server start`` (it answers the
health check), except in the one slow test that runs two real ``ingest`` commands against it (in its
warm runner, flows.warm)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driftline.errors import ConfigError
from driftline.home import DataHome
from flows import local_server as ls

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
FAKE = ("import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'true')\n"
        "    def log_message(self, *a): pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")
FAKE_ARGV = [sys.executable, "-c", FAKE, ls.PORT]


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv(ls.SWITCH, raising=False)
    monkeypatch.delenv("DRIFTLINE_FAULT", raising=False)
    h = DataHome(tmp_path / "home")
    yield h
    state = ls.read_state(h)
    if state is not None:  # a failed test leaves nothing running either
        ls.stop(h, grace_s=2)


def _wait_until(predicate, what: str, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {limit_s:.0f} s"
        time.sleep(0.05)


def _cmdlines(token: str) -> list[str]:
    return [(Path("/proc") / str(p) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            for p in ls.carriers(token) if (Path("/proc") / str(p)).exists()]


def test_start_publishes_state_and_a_second_start_reuses_it(home: DataHome) -> None:
    state, started = ls.start(home, server_argv=FAKE_ARGV)
    assert started and ls.state_file(home).exists()
    assert json.loads(ls.state_file(home).read_text()) == {**state.__dict__}
    assert any(" -c " in c for c in _cmdlines(state.token)), "the server runs under the token"
    before = set(ls.carriers(state.token))
    again, started_again = ls.start(home, server_argv=FAKE_ARGV)
    assert (again, started_again) == (state, False)
    assert set(ls.carriers(state.token)) == before, "reuse started no process"


def test_stop_leaves_no_process_and_no_state(home: DataHome) -> None:
    state, _ = ls.start(home, server_argv=FAKE_ARGV)
    assert ls.stop(home) == state
    assert ls.carriers(state.token) == []
    assert not ls.state_file(home).exists()
    assert ls.stop(home) is None  # nothing running: says so


def test_stale_or_unreadable_state_is_removed(home: DataHome) -> None:
    home.ensure()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    ls.state_file(home).write_text(json.dumps({"pid": gone.pid, "port": 1, "token": "t", "idle_s": 1.0,
                                               "started": 0.0}))
    assert ls.read_state(home) is None and not ls.state_file(home).exists()
    # A live pid without the token (a reused pid) is stale too: this very process.
    ls.state_file(home).write_text(json.dumps({"pid": os.getpid(), "port": 1, "token": "t", "idle_s": 1.0,
                                               "started": 0.0}))
    assert ls.read_state(home) is None and not ls.state_file(home).exists()
    for bad in ("{not json", json.dumps({"pid": "1", "port": 1, "token": "t", "idle_s": 1, "started": 0}),
                json.dumps({"pid": 1}), json.dumps([1, 2])):
        ls.state_file(home).write_text(bad)
        assert ls.read_state(home) is None and not ls.state_file(home).exists(), bad


def test_a_killed_supervisor_leaves_nothing_and_the_next_start_recovers(home: DataHome) -> None:
    state, _ = ls.start(home, server_argv=FAKE_ARGV)
    os.kill(state.pid, signal.SIGKILL)
    _wait_until(lambda: ls.carriers(state.token) == [], "the server's death with its supervisor")
    assert ls.read_state(home) is None and not ls.state_file(home).exists()
    fresh, started = ls.start(home, server_argv=FAKE_ARGV)
    assert started and fresh.token != state.token


def test_a_killed_server_ends_its_supervisor_and_state(home: DataHome) -> None:
    state, _ = ls.start(home, server_argv=FAKE_ARGV)
    server = next(p for p in ls.carriers(state.token)  # the fake itself, not the supervisor naming it
                  if (Path("/proc") / str(p) / "cmdline").read_bytes().split(b"\0")[1:2] == [b"-c"])
    os.kill(server, signal.SIGKILL)
    _wait_until(lambda: ls.carriers(state.token) == [], "the supervisor's exit")
    assert not ls.state_file(home).exists()


def test_the_idle_timeout_stops_the_server(home: DataHome) -> None:
    state, _ = ls.start(home, idle_s=0.5, server_argv=FAKE_ARGV)
    _wait_until(lambda: ls.carriers(state.token) == [], "the idle stop")
    assert not ls.state_file(home).exists()


def test_a_command_holds_a_lease_while_attached(home: DataHome, monkeypatch: pytest.MonkeyPatch) -> None:
    state, _ = ls.start(home, server_argv=FAKE_ARGV)
    lease = ls.server_dir(home) / "leases" / str(os.getpid())
    with ls.attach(home) as attached:
        assert attached == state and lease.exists()
        assert os.environ["PREFECT_API_URL"] == os.environ[ls.LOCAL_API] == state.api_url
        assert ls._idle_for(home) == 0.0  # noqa: SLF001 - the supervisor's own idle measure
    assert not lease.exists()
    # The command's environment is as it was: a later command (or test) is not pointed at a server
    # that may be gone by then (it once was, and every later subprocess got "connection refused").
    assert "PREFECT_API_URL" not in os.environ and ls.LOCAL_API not in os.environ


def test_attach_without_a_server_or_the_switch_uses_the_temporary_server(home: DataHome) -> None:
    with ls.attach(home) as attached:
        assert attached is None and "PREFECT_API_URL" not in os.environ
    assert not home.root.exists(), "nothing written into a home that has no server"


@pytest.mark.parametrize("point", ["local_server.before_state", "local_server.state_staged"])
def test_a_supervisor_killed_while_publishing_leaves_nothing(home: DataHome, point: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_FAULT", point)
    with pytest.raises(ConfigError, match="did not start"):
        ls.start(home, server_argv=FAKE_ARGV, timeout_s=60)
    assert not ls.state_file(home).exists()
    _wait_until(lambda: not _fake_servers(), "the server's death with its killed supervisor")
    monkeypatch.delenv("DRIFTLINE_FAULT")
    assert ls.start(home, server_argv=FAKE_ARGV)[1], "the next start recovers"


def _fake_servers() -> list[str]:
    """Fake servers (of any test's supervisor) still running."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if b"serve_forever" in cmd and str(os.getpid()).encode() not in cmd:
                env = (p / "environ").read_bytes() if os.access(p / "environ", os.R_OK) else b""
                if ls.TOKEN.encode() in env:
                    found.append(cmd.decode(errors="replace"))
    return found


def test_bad_idle_timeout_is_refused(home: DataHome) -> None:
    with pytest.raises(ConfigError, match="idle timeout"):
        ls.start(home, idle_s=0, server_argv=FAKE_ARGV)


@pytest.mark.slow
def test_flow_commands_reuse_the_shared_prefect_server(home: DataHome) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "DRIFTLINE_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    cli = [sys.executable, "-m", "flows", "--home", str(home.root)]
    assert subprocess.run([*cli, "server", "start"], env=env, cwd=ROOT, capture_output=True).returncode == 0
    state = ls.read_state(home)
    assert state is not None
    runner_log = ls.server_dir(home) / "runner.log"
    _wait_until(lambda: runner_log.exists() and "ready" in runner_log.read_text(), "the warm runner's start", 120)
    server_pids = set(ls.carriers(state.token))
    for number in range(1, 3):
        command = subprocess.Popen([*cli, "ingest"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        seen: set[str] = set()
        while command.poll() is None:  # no temporary server among the command's processes
            seen.update(c for c in _children_cmdlines(command.pid))
            time.sleep(0.05)  # a poll interval, not a timing: a temporary server lives for seconds
        out, err = command.communicate()
        assert command.returncode == 0, err
        assert b"ingested 0 file(s)" in out
        assert not any("uvicorn" in c or "server start" in c for c in seen), seen
        # ... and it ran in the warm runner, a fork of which is gone once the command ended
        assert runner_log.read_text().count(f"command of pid {command.pid} runs as pid") == 1
        assert runner_log.read_text().count("runs as pid") == number
        assert ls.read_state(home) == state and set(ls.carriers(state.token)) == server_pids
    assert subprocess.run([*cli, "server", "stop"], env=env, cwd=ROOT, capture_output=True).returncode == 0
    assert ls.carriers(state.token) == [] and ls.read_state(home) is None


def _children_cmdlines(pid: int) -> list[str]:
    out = []
    for task in (Path("/proc") / str(pid) / "task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for k in kids:
            try:
                out.append((Path("/proc") / k / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
            out.extend(_children_cmdlines(int(k)))
    return out
