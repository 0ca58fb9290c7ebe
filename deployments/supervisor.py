"""Supervising long-running children (the Prefect server, process workers) so they stop cleanly.

Each child runs in its own session and process group, with SIGINT and SIGTERM restored to their
default handlers before it executes: a process started in the background from a script inherits
SIGINT ignored, and a Prefect worker in that state can ignore a plain SIGTERM. To stop, the
supervisor sends SIGTERM to each child's whole group (the worker and the flow runs it started),
waits up to a grace period, then SIGKILLs whatever is left. :func:`on_stop_signals` turns SIGTERM
and SIGINT to the supervisor itself into that same orderly stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def _default_signals() -> None:
    # Runs in the child between fork and exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Supervisor:
    """Starts children with default signal handling and stops them as a group."""

    log_dir: Path
    grace_s: float = 10.0
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        try:
            process = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=_default_signals)
        finally:
            log.close()  # the child holds its own descriptor
        child = Child(name, process)
        self.children.append(child)
        return child

    def exited(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() is not None]

    def stop(self, children: Sequence[Child] | None = None) -> None:
        """SIGTERM every child's group, wait up to the grace period, then SIGKILL what is left."""
        targets = list(children) if children is not None else list(reversed(self.children))
        for c in targets:
            try:
                os.killpg(c.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and any(group_alive(c.pid) for c in targets):
            for c in targets:
                c.process.poll()  # reap, so an exited leader does not linger as a zombie
            time.sleep(0.1)
        for c in targets:
            if group_alive(c.pid):
                try:
                    os.killpg(c.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                c.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.children = [c for c in self.children if c not in targets]


def on_stop_signals(handler: Callable[[int], None]) -> None:
    """Call ``handler(signum)`` on SIGTERM or SIGINT (instead of dying mid-way through a stop)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, _frame: handler(s))
