"""Windows: the current rows the monitor compares with a reference profile, sampled like it.

The reference profile describes the training rows, which are features as of weekly label times;
so the current window takes every entity's features as of weekly observation points, from the
newest data time back over ``days`` (the newest point first, none at or before the start). Time
here is data time, the newest event time stored, not the wall clock, so replayed or late data is
judged by when it happened. Reading features as of a time is injected (``features_as_of``), so the
sampling is tested on tiny frames without a store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from driftline.errors import InputError

OBSERVATION_STEP = timedelta(days=7)


@dataclass(frozen=True)
class Window:
    """The current window: ``frame`` holds the rows of every observation point in ``(start, end]``."""

    start: datetime
    end: datetime
    frame: pl.DataFrame
    points: tuple[datetime, ...] = ()

    @property
    def key(self) -> str:
        """The window's name in events, audit entries and the retrain ledger (dates only)."""
        return f"{self.start.date().isoformat()}..{self.end.date().isoformat()}"


def observation_points(end: datetime, days: int, step: timedelta = OBSERVATION_STEP) -> tuple[datetime, ...]:
    """``end``, ``end - step``, ... while later than ``end - days``; newest first."""
    if days < 1 or step <= timedelta(0):
        raise InputError(f"a window of {days} days with a step of {step} has no observation points",
                         hint="use window_days >= 1 and a positive step")
    start, points, at = end - timedelta(days=days), [], end
    while at > start:
        points.append(at)
        at -= step
    return tuple(points)


def sample_window(features_as_of: Callable[[datetime], pl.DataFrame], end: datetime, days: int,
                  step: timedelta = OBSERVATION_STEP) -> Window:
    """The features of every entity as of each observation point, stacked (newest point first)."""
    points = observation_points(end, days, step)
    frame = pl.concat([features_as_of(at) for at in points], how="vertical_relaxed")
    return Window(start=end - timedelta(days=days), end=end, frame=frame, points=points)
