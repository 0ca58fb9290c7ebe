"""The monitor's window on event-style data (one row per id, no TTL): the rows that arrived in it.

Two thousand old ids sent one row each over forty days; a hundred new ids arrive in the last week
with values the training rows never had. The window is the new rows, so its verdict is drift, and
it agrees with a direct comparison of those raw rows against the training rows. (The old window,
every entity's latest row at weekly points, was 95% old rows and said "no drift".)
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from driftline.errors import InputError
from monitoring.drift import DriftPolicy, detect_drift
from monitoring.profile import build_profile, finite_values
from monitoring.statistics import compare_numeric
from tests.usecases.small import CONTRACTS, T0, put
from usecases.monitor import current_window

DAY = 24 * 60  # minutes
OLD = [{"customer_id": f"o{i}", "event_time": i * 28, "sessions": i % 50} for i in range(2000)]
NEW = [{"customer_id": f"n{i}", "event_time": 45 * DAY + i * 60, "sessions": 200 + i % 50} for i in range(100)]


def _training_profile():
    import polars as pl

    return build_profile(pl.DataFrame({"sessions": [r["sessions"] for r in OLD]}), numeric=["sessions"],
                         categorical=[])


def test_the_window_is_the_rows_that_arrived_in_it_and_a_drifted_new_half_is_drift(store) -> None:
    put(store, "activity", OLD + NEW)
    window = current_window(store, CONTRACTS, ["activity"], 7)

    assert window.frame.height == len(NEW)  # not every entity's latest row: only the new arrivals
    assert sorted(window.frame["customer_id"]) == sorted(r["customer_id"] for r in NEW)
    profile = _training_profile()
    report = detect_drift(profile, window.frame, DriftPolicy())
    assert report.drifted and report.drifted_features() == ("sessions",)

    # The verdict agrees with a direct comparison of the raw window rows against the training rows.
    raw = np.array([r["sessions"] for r in NEW], dtype=float)
    direct = compare_numeric("sessions", "numeric", profile.features["sessions"], *finite_values(raw, name="s"))
    (feature,) = report.features
    assert (feature.psi, feature.statistic) == (direct.psi, direct.statistic)
    assert stats.ks_2samp([r["sessions"] for r in OLD], raw).pvalue < 1e-6


def test_explicit_bounds_take_the_rows_in_since_until_and_refuse_an_empty_interval(store) -> None:
    put(store, "activity", OLD + NEW)
    since, until = T0 + timedelta(days=10), T0 + timedelta(days=20)
    window = current_window(store, CONTRACTS, ["activity"], 7, since=since, until=until)
    expected = [r for r in OLD if since <= T0 + timedelta(minutes=r["event_time"]) < until]
    assert window.frame.height == len(expected) and (window.start, window.end) == (since, until)
    assert not detect_drift(_training_profile(), window.frame, DriftPolicy()).drifted
    with pytest.raises(InputError, match="empty"):
        current_window(store, CONTRACTS, ["activity"], 7, since=until, until=since)
