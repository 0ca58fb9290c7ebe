"""Progress bars on the terminal of a command a person runs: rich, drawn on stderr, TTY only.

:func:`terminal_bars` opens the tasks' progress channel (:mod:`tasks.progress`) for the flows a
command runs in-process, and only when stderr is a terminal: a pipe, a redirect to a log file, CI
and a worker running deployments get no bar and no escape codes. :func:`rich_bar` is one bar:
label, bar, units done of expected, the last thing done (a drop's name, the best score so far) and
the time elapsed. ``audit export`` (a command that runs no flow) uses :func:`bar_if_terminal`
directly. rich ships with Prefect; it is imported only when a bar is drawn.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO

from driftline.progress import Progress
from tasks.progress import showing_bars


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether a person watches ``stream`` (default stderr): a TTY, not a pipe or a file."""
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


@contextlib.contextmanager
def rich_bar(label: str) -> Iterator[Progress]:
    """One bar on stderr while the block runs; yields the callback that moves it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[what]}"), TimeElapsedColumn())
    # Not transient: the finished bar stays as the line that says what was done.
    with Bars(*columns, console=Console(stderr=True)) as bars:
        task = bars.add_task(label, total=None, what="")

        def update(done: int, total: int, what: str) -> None:
            bars.update(task, completed=done, total=total, what=what)
        yield update


@contextlib.contextmanager
def terminal_bars() -> Iterator[None]:
    """Bars for the tasks of the flows run inside the block, when stderr is a terminal."""
    if not on_terminal():
        yield
        return
    with showing_bars(rich_bar):
        yield


@contextlib.contextmanager
def bar_if_terminal(label: str) -> Iterator[Progress | None]:
    """One bar for a command that runs no flow; ``None`` when stderr is not a terminal."""
    if not on_terminal():
        yield None
        return
    with rich_bar(label) as progress:
        yield progress
