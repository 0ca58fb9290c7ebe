"""Windows: the current rows the monitor compares with a reference profile.

The reference profile describes the training rows: events, each with the features known at its
time. The current window is the same kind of population: the rows whose event time falls in
``[start, end)``, that is, the rows that arrived in the window, each joined per entity as the
training set joins them (:func:`features.arrivals.arrived_rows`). It is never every entity's
latest row at a few observation points: on event-style data (one row per id, no TTL) those are
mostly old rows, which hid a drifted new half and multiplied 25,000 new rows into millions.
:func:`window_bounds` picks the interval: the given ``since``/``until``, else the ``days`` that end
at the data's newest event time (data time, not the wall clock, so replayed or late data is judged
by when it happened), that newest row included. Reading the rows is injected (``rows_between``),
so the bounds are tested on tiny frames without a store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from driftline.errors import InputError

# The default window ends just after the newest event, so that row is in ``[start, end)``.
AFTER_NEWEST = timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    """The current window: ``frame`` holds the rows whose event time is in ``[start, end)``."""

    start: datetime
    end: datetime
    frame: pl.DataFrame

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise InputError(f"window [{self.start.isoformat()}, {self.end.isoformat()}) is empty",
                             hint="give a start (--since) earlier than the end (--until)")

    @property
    def key(self) -> str:
        """The window's name in events, audit entries and the retrain ledger (dates only)."""
        return f"{self.start.date().isoformat()}..{self.end.date().isoformat()}"


def window_bounds(newest: datetime, days: int, *, since: datetime | None = None,
                  until: datetime | None = None) -> tuple[datetime, datetime]:
    """``[since, until)``; a missing end is just after ``newest``, a missing start ``days`` before the end."""
    if days < 1:
        raise InputError(f"a window of {days} days holds no time", hint="use window_days >= 1")
    end = until if until is not None else newest + AFTER_NEWEST
    start = since if since is not None else end - timedelta(days=days)
    if start >= end:
        raise InputError(f"the window [{start.isoformat()}, {end.isoformat()}) is empty: its start is not "
                         "before its end", hint="give --since earlier than --until")
    return start, end


def arrived_window(rows_between: Callable[[datetime, datetime], pl.DataFrame], start: datetime,
                   end: datetime) -> Window:
    """The window of the rows that arrived in ``[start, end)``."""
    return Window(start=start, end=end, frame=rows_between(start, end))
