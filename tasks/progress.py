"""The channel from the command line's terminal to the tasks' long loops: progress bars, or nothing.

A long use case takes a plain ``progress(done, total, what)`` callback (:mod:`driftline.progress`).
The tasks that call one (ingestion, the search, the export) ask :func:`terminal_bar` for it. Only
a command run by a person at a terminal opens the channel (``flows/progress_bar.py``, when
stderr is a TTY), around the flows it runs in-process; a deployment run on a worker, a test, a
pipe or a log never does, so there the tasks get ``None`` and draw nothing. The channel is a
context variable, set for the command's duration and reset after: Prefect runs a local flow's
tasks in the caller's context, so they see it; nothing global is left behind. Prefect-free.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar

from driftline.progress import Progress

# label -> a context manager that draws one bar while it is open and yields its callback
BarFactory = Callable[[str], AbstractContextManager[Progress]]

_BARS: ContextVar[BarFactory | None] = ContextVar("driftline_progress_bars", default=None)


@contextlib.contextmanager
def showing_bars(factory: BarFactory) -> Iterator[None]:
    """Open the channel for the duration of the block: tasks run inside it draw with ``factory``."""
    token = _BARS.set(factory)
    try:
        yield
    finally:
        _BARS.reset(token)


@contextlib.contextmanager
def terminal_bar(label: str) -> Iterator[Progress | None]:
    """A bar's callback while the block runs, when a terminal watches; ``None`` otherwise."""
    factory = _BARS.get()
    if factory is None:
        yield None
        return
    with factory(label) as progress:
        yield progress
