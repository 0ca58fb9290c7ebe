"""The one shape of progress a long use case reports: ``progress(done, total, what)``.

Ingestion of many drops, the Optuna search and audit exports take minutes on real data. Each takes
an optional plain callback of this shape and calls it after every unit of work (a drop, a trial, a
shipped part) with the units done, the units expected and a short text (the drop's name; the best
score so far). The pure packages draw nothing and import no terminal library: the command line
turns the calls into a bar on a terminal (``flows/progress_bar.py``), and any other caller (a test,
the Python API) passes what it likes or nothing.
"""

from __future__ import annotations

from collections.abc import Callable

# (units done, units expected, what was just done): called after each unit, done <= total
Progress = Callable[[int, int, str], None]


def report(progress: Progress | None, done: int, total: int, what: str) -> None:
    """Call ``progress`` when there is one (so callers need no ``if`` of their own)."""
    if progress is not None:
        progress(done, total, what)
