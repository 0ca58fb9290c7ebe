"""Windows: weekly observation points back from the newest data time, each sampled as of itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from driftline.errors import InputError
from monitoring.windows import Window, observation_points, sample_window

END = datetime(2026, 3, 31, 12, tzinfo=UTC)


def test_points_step_back_weekly_and_stop_after_the_start() -> None:
    assert observation_points(END, 14) == (END, END - timedelta(days=7))  # END - 14 d is the open start
    assert observation_points(END, 15) == (END, END - timedelta(days=7), END - timedelta(days=14))
    assert observation_points(END, 1) == (END,)


def test_each_point_is_sampled_as_of_itself_and_stacked_newest_first() -> None:
    seen: list[datetime] = []

    def features_as_of(at: datetime) -> pl.DataFrame:
        seen.append(at)
        return pl.DataFrame({"customer_id": [1, 2, 3], "as_of": [at.day] * 3})

    window = sample_window(features_as_of, END, 10)
    assert seen == [END, END - timedelta(days=7)]
    assert window.frame.height == 6 and window.frame["as_of"].to_list() == [31] * 3 + [24] * 3
    assert window.points == tuple(seen)
    assert (window.start, window.end) == (END - timedelta(days=10), END)
    assert window.key == "2026-03-21..2026-03-31"


def test_points_with_different_columns_are_stacked_relaxed() -> None:
    frames = iter([pl.DataFrame({"x": [1.5, None, 2.0]}), pl.DataFrame({"x": [1, 2, 3]})])
    window = sample_window(lambda at: next(frames), END, 8)
    assert window.frame.schema["x"] == pl.Float64 and window.frame.height == 6


@pytest.mark.parametrize("days, step", [(0, timedelta(days=7)), (-3, timedelta(days=7)), (30, timedelta(0))])
def test_a_window_without_points_is_refused(days: int, step: timedelta) -> None:
    with pytest.raises(InputError, match="no observation points") as caught:
        observation_points(END, days, step)
    assert caught.value.hint


def test_window_is_a_frozen_value() -> None:
    window = Window(END, END, pl.DataFrame())
    with pytest.raises(AttributeError):
        window.end = END  # type: ignore[misc]
