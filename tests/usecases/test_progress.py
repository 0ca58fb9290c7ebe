"""Progress of long work: the export's callback gets the right counts, the tasks' channel is shut
unless a terminal command opens it, and a real command draws a bar on a terminal (a pty) and
nothing when its output is piped."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from driftline.progress import Progress
from tasks.progress import showing_bars, terminal_bar
from tasks.workspace import Workspace
from usecases.export import export_audit

ROOT = Path(__file__).resolve().parents[2]


def test_the_export_reports_each_step_against_the_total(ws: Workspace, tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    export_audit(ws, out=tmp_path / "bundle", progress=lambda *c: calls.append(c))
    # The chain verified, the entries taken, each of the two versions read, the bundle written.
    assert [(done, total) for done, total, _ in calls] == [(n, 5) for n in range(1, 6)]
    assert [what for _, _, what in calls][2:] == ["churn v1", "churn v2", "bundle written"]
    assert calls[0][2].startswith("audit chain verified (")


def test_the_channel_is_shut_unless_a_command_opens_it() -> None:
    seen: list[tuple[str, int, int, str]] = []

    @contextlib.contextmanager
    def fake_bar(label: str) -> Iterator[Progress]:
        yield lambda done, total, what: seen.append((label, done, total, what))

    with terminal_bar("ingest") as progress:
        assert progress is None  # a worker, a test, a pipe: no bar
    with showing_bars(fake_bar):
        with terminal_bar("ingest") as progress:
            assert progress is not None
            progress(1, 2, "a.csv")
    with terminal_bar("ingest") as progress:
        assert progress is None  # reset after the command's block
    assert seen == [("ingest", 1, 2, "a.csv")]


def _export_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "flows", "audit", "export", "--out", str(out)]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("DRIFTLINE_FAULT", None)
    return env


def _run_on_a_terminal(command: list[str]) -> tuple[int, bytes]:
    """Run ``command`` with stdout and stderr on a pseudo-terminal; its exit code and all it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT, env=_env())
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:  # a hung child: stop it rather than hang the suite
                proc.kill()
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    return code, b"".join(chunks)


def test_a_terminal_gets_a_bar_and_a_pipe_gets_none(ws: Workspace, tmp_path: Path) -> None:
    code, shown = _run_on_a_terminal(_export_command(tmp_path / "on-terminal"))
    assert code == 0, shown.decode(errors="replace")
    assert b"audit export" in shown and b"5/5" in shown and "━".encode() in shown
    piped = subprocess.run(_export_command(tmp_path / "piped"), cwd=ROOT, env=_env(), capture_output=True,
                           timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert b"audit export written to" in piped.stdout  # the command's own line, and nothing drawn
    assert "━".encode() not in piped.stdout + piped.stderr and b"\x1b[" not in piped.stdout + piped.stderr
    assert b"5/5" not in piped.stderr
