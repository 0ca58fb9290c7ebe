"""The one timestamp format: a round trip, fixed width, what older files hold still read, and
bad input refused with a hint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.clock import format_time, parse_time, utc_now
from driftline.errors import InputError

AWARE = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1),
                     timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30))]))


@given(AWARE)
def test_round_trip_and_fixed_width(moment: datetime) -> None:
    text = format_time(moment)
    assert parse_time(text) == moment
    assert len(text) == 27 and text.endswith("Z")


def test_older_isoformat_text_is_read() -> None:
    expected = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    for text in ("2024-05-01T12:00:00+00:00", "2024-05-01T12:00:00.000000+00:00", "2024-05-01T14:00:00+02:00",
                 "2024-05-01T12:00:00Z"):
        assert parse_time(text) == expected


@pytest.mark.parametrize("bad", ["2024-05-01T12:00:00", "yesterday", "", "2024-13-01T00:00:00Z"])
def test_bad_or_naive_text_is_refused(bad: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_time(bad)
    assert caught.value.hint


def test_naive_time_is_never_written() -> None:
    with pytest.raises(InputError):
        format_time(datetime(2024, 5, 1))
    assert utc_now().tzinfo is not None
