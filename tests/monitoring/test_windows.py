"""Windows: ``[since, until)``, by default the days that end just after the newest data time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from driftline.errors import InputError
from monitoring.windows import AFTER_NEWEST, Window, arrived_window, window_bounds

END = datetime(2026, 3, 31, 12, tzinfo=UTC)


def test_default_bounds_end_just_after_the_newest_row_so_it_is_in_the_window() -> None:
    start, end = window_bounds(END, 10)
    assert end == END + AFTER_NEWEST and start == end - timedelta(days=10)
    assert start < END < end


def test_given_bounds_win_and_an_empty_interval_is_refused() -> None:
    since = END - timedelta(days=3)
    assert window_bounds(END, 10, since=since) == (since, END + AFTER_NEWEST)
    assert window_bounds(END, 10, until=since) == (since - timedelta(days=10), since)
    with pytest.raises(InputError, match="empty"):
        window_bounds(END, 10, since=END, until=since)
    with pytest.raises(InputError, match="0 days"):
        window_bounds(END, 0)


def test_the_window_reads_its_rows_once_over_its_interval_and_names_itself_by_dates() -> None:
    seen: list[tuple[datetime, datetime]] = []

    def rows_between(a: datetime, b: datetime) -> pl.DataFrame:
        seen.append((a, b))
        return pl.DataFrame({"x": [1, 2]})

    window = arrived_window(rows_between, END - timedelta(days=10), END)
    assert seen == [(END - timedelta(days=10), END)] and window.frame.height == 2
    assert window.key == "2026-03-21..2026-03-31"
    with pytest.raises(InputError, match="empty"):
        Window(start=END, end=END, frame=pl.DataFrame())
