"""The warm runner (flows.warm, flows.warm_runner): a command runs in a forked child with its own streams, folder,
environment and exit status; its signals reach the child; a killed command takes its child with it;
a runner of other code, of another server, or holding threads runs nothing. A small entry module
stands in for ``flows.cli:main``, and nothing is preloaded, so no Prefect is needed here (the real
runner is exercised by the slow test in test_local_server.py)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import local_server as ls
from flows import warm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="Linux: /proc, abstract sockets")

ENTRY = textwrap.dedent("""
    import os, sys, time, threading
    def main(argv):
        what = argv[0]
        if what == "echo":
            line = sys.stdin.readline().strip()
            print(f"out {os.environ.get('WARM_TEST_VALUE')} {os.getcwd()} {line} {argv[1:]}")
            print("err line", file=sys.stderr)
            return 7
        if what == "sleep":
            with open(argv[1], "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
            return 0
        if what == "fail":
            raise RuntimeError("boom")
        return 0
""")
THREADED = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"


def _env(token: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLINE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    env[ls.TOKEN] = token
    return env


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "warmentry.py").write_text(ENTRY)
    (tmp_path / "threaded.py").write_text(THREADED)
    return tmp_path


def _runner(token: str, folder: Path, preload: str = "", *, carry: bool = True) -> subprocess.Popen[bytes]:
    env = _env(token, folder)
    if not carry:
        env.pop(ls.TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "flows.warm_runner", token, "warmentry:main", preload], env=env,
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # "warm runner ready ..." once it listens
    assert "ready" in line, line
    return proc


@pytest.fixture()
def token() -> str:
    return secrets.token_hex(8)


@pytest.fixture()
def runner(token: str, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = _runner(token, folder)
    yield proc
    _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def _client(token: str, folder: Path, args: list[str], **env: str) -> subprocess.Popen[bytes]:
    code = ("import sys\nfrom flows.warm import delegate\n"
            f"status = delegate({args!r}, {token!r})\n"
            "print('cold' if status is None else f'status {status}', file=sys.stderr)\n"
            "sys.exit(0 if status is None else status)\n")
    return subprocess.Popen([sys.executable, "-c", code], env={**_env(token, folder), **env}, cwd=folder,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_command_runs_in_the_runner_with_its_streams_folder_environment_and_status(
        runner: subprocess.Popen[bytes], token: str, folder: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    client = _client(token, folder, ["echo", "a b"], WARM_TEST_VALUE="42")
    client.stdin.write(b"hello\n")  # type: ignore[union-attr]
    out, err = client.communicate(timeout=60)
    assert client.returncode == 7, err
    assert out.decode().strip() == f"out 42 {folder} hello ['a b']"
    assert "err line" in err.decode() and "status 7" in err.decode()


def test_an_exception_in_the_command_is_a_failing_status_not_a_hang(
        runner: subprocess.Popen[bytes], token: str, folder: Path) -> None:
    client = _client(token, folder, ["fail"])
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 70 and b"boom" in err


def _wait_for(path: Path, limit_s: float = 60) -> int:
    deadline = time.monotonic() + limit_s
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return int(path.read_text())


def _gone(pid: int, limit_s: float = 30) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().split()[2]
        except OSError:
            return True
        if state == "Z":  # exited, not yet reaped
            return True
        time.sleep(0.05)
    return False


def test_signals_to_the_command_reach_its_child(runner: subprocess.Popen[bytes], token: str, folder: Path,
                                                tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    client = _client(token, folder, ["sleep", str(marker)])
    child = _wait_for(marker)
    client.send_signal(signal.SIGTERM)
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 128 + signal.SIGTERM, err
    assert _gone(child)


def test_a_killed_command_takes_its_child_with_it(runner: subprocess.Popen[bytes], token: str, folder: Path,
                                                  tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    client = _client(token, folder, ["sleep", str(marker)])
    child = _wait_for(marker)
    client.kill()
    client.wait(timeout=30)
    assert _gone(child), "the child of a SIGKILLed command still runs"
    assert runner.poll() is None  # the runner itself carries on
    again = _client(token, folder, ["echo"])
    again.communicate(b"x\n", timeout=60)
    assert again.returncode == 7


@pytest.mark.parametrize("change", ["pythonpath", "prefect_setting"])
def test_a_command_of_other_code_or_settings_runs_cold(runner: subprocess.Popen[bytes], token: str,
                                                       folder: Path, change: str) -> None:
    extra = ({"PYTHONPATH": os.pathsep.join([str(folder), str(ROOT), "/nonexistent"])} if change == "pythonpath"
             else {"PREFECT_CLIENT_MAX_RETRIES": "9"})
    client = _client(token, folder, ["echo"], **extra)
    out, err = client.communicate(b"x\n", timeout=60)
    assert client.returncode == 0 and b"cold" in err and out == b""


def test_a_runner_that_does_not_carry_the_servers_token_gets_nothing(token: str, folder: Path) -> None:
    proc = _runner(token, folder, carry=False)  # listens on the right name, but is not the server's
    try:
        client = _client(token, folder, ["echo"], WARM_TEST_VALUE="secret")
        out, err = client.communicate(b"x\n", timeout=60)
        assert client.returncode == 0 and b"cold" in err and out == b""
    finally:
        _stop(proc)
    assert b"refused" not in (proc.stdout.read() if proc.stdout else b"")  # it never even saw a request


def test_a_runner_holding_threads_refuses_to_fork(token: str, folder: Path) -> None:
    proc = _runner(token, folder, preload="threaded")
    try:
        client = _client(token, folder, ["echo"])
        out, err = client.communicate(b"x\n", timeout=60)
        assert client.returncode == 0 and b"cold" in err and out == b""
    finally:
        _stop(proc)


def test_no_runner_means_cold(token: str, folder: Path) -> None:
    assert warm.delegate(["echo"], token) is None


def test_a_stopped_runner_stops_the_commands_running_in_it(token: str, folder: Path, tmp_path: Path) -> None:
    proc = _runner(token, folder)
    marker = tmp_path / "child.pid"
    client = _client(token, folder, ["sleep", str(marker)])
    child = _wait_for(marker)
    _stop(proc)
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 128 + signal.SIGTERM, err
    assert _gone(child)
