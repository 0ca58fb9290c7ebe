"""Reference profiles: exact counts on tiny frames, null handling, validation, JSON round-trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.errors import InputError
from monitoring.profile import (CategoricalProfile, NumericProfile, ReferenceProfile, build_profile,
                              category_counts, finite_values)


def test_numeric_profile_counts_bins_and_exact_cdf() -> None:
    frame = pl.DataFrame({"x": [float(v) for v in range(1, 101)]})
    spec = build_profile(frame, numeric=["x"], categorical=[], bins=4).features["x"]
    assert isinstance(spec, NumericProfile)
    assert spec.edges == (25.75, 50.5, 75.25)
    assert spec.counts == (25, 25, 25, 25)
    assert spec.quantiles[0] == 1.0 and spec.quantiles[-1] == 100.0 and len(spec.quantiles) == 101
    # cdf[k] is the exact share of values <= quantiles[k]
    assert spec.cdf[0] == pytest.approx(0.01) and spec.cdf[-1] == 1.0
    grid, cdf = spec.grid()
    assert np.all(np.diff(grid) > 0) and np.all(np.diff(cdf) >= 0)


def test_nulls_nan_and_inf_are_counted_as_nulls() -> None:
    frame = pl.DataFrame({"x": [1.0, None, float("nan"), float("inf"), 2.0], "c": ["a", None, "b", "a", None]})
    profile = build_profile(frame, numeric=["x"], categorical=["c"])
    x, c = profile.features["x"], profile.features["c"]
    assert isinstance(x, NumericProfile) and (x.null_count, x.n, sum(x.counts)) == (3, 5, 2)
    assert c == CategoricalProfile(counts={"a": 2, "b": 1}, other_count=0, null_count=2, n=5)


def test_constant_and_all_null_columns_profile_cleanly() -> None:
    frame = pl.DataFrame({"k": [3, 3, 3], "z": pl.Series([None, None, None], dtype=pl.Float64)})
    profile = build_profile(frame, numeric=["k", "z"], categorical=[])
    k, z = profile.features["k"], profile.features["z"]
    assert isinstance(k, NumericProfile) and k.edges == (3.0,) and k.counts == (3, 0)
    assert isinstance(z, NumericProfile) and z.counts == (0,) and z.quantiles == () and z.null_count == 3
    assert ReferenceProfile.from_json(profile.to_json()) == profile


def test_rare_categories_fold_into_other() -> None:
    frame = pl.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c", "d"]})
    spec = build_profile(frame, numeric=[], categorical=["c"], max_categories=2).features["c"]
    assert spec == CategoricalProfile(counts={"a": 5, "b": 3}, other_count=2, null_count=0, n=10)


def test_predictions_are_profiled_and_must_match_rows() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    profile = build_profile(frame, numeric=["x"], categorical=[], predictions=np.array([0.1, 0.5, np.nan]))
    assert profile.prediction is not None and profile.prediction.null_count == 1
    with pytest.raises(InputError, match="2 predictions for 3 rows"):
        build_profile(frame, numeric=["x"], categorical=[], predictions=np.array([0.1, 0.2]))


@pytest.mark.parametrize("kwargs, message", [
    ({"numeric": ["nope"], "categorical": []}, "not in the frame"),
    ({"numeric": ["x"], "categorical": ["x"]}, "both numeric and categorical"),
    ({"numeric": ["s"], "categorical": []}, "not a number"),
    ({"numeric": ["x"], "categorical": [], "bins": 1}, "too small"),
])
def test_bad_requests_raise_input_errors(kwargs: dict, message: str) -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(InputError, match=message):
        build_profile(frame, **kwargs)


def test_empty_frame_is_refused() -> None:
    with pytest.raises(InputError, match="no rows"):
        build_profile(pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)}), numeric=["x"], categorical=[])


def test_malformed_json_is_refused() -> None:
    profile = build_profile(pl.DataFrame({"x": [1.0, 2.0]}), numeric=["x"], categorical=[])
    data = profile.to_dict()
    data["features"]["x"]["null_count"] = 7  # counts no longer add up
    with pytest.raises(InputError, match="do not add up"):
        ReferenceProfile.from_dict(data)
    with pytest.raises(InputError, match="format"):
        ReferenceProfile.from_dict({**profile.to_dict(), "format": "other/9"})
    with pytest.raises(InputError, match="not valid JSON"):
        ReferenceProfile.from_json(b"{nope")


def test_current_values_are_read_like_the_reference() -> None:
    values, nulls = finite_values(pl.Series([1, None, 3]), name="x")
    assert values.tolist() == [1.0, 3.0] and nulls == 1
    assert category_counts(pl.Series([True, False, None, True])) == ({"true": 2, "false": 1}, 1)


_numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64),
                     st.integers(-10**6, 10**6).map(float))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(xs=st.lists(_numbers, min_size=1, max_size=40), cats=st.data(), bins=st.integers(2, 12))
def test_json_round_trip(xs: list, cats: st.DataObject, bins: int) -> None:
    labels = cats.draw(st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=len(xs), max_size=len(xs)))
    preds = np.array(cats.draw(st.lists(st.floats(0, 1), min_size=len(xs), max_size=len(xs))))
    frame = pl.DataFrame({"x": pl.Series(xs, dtype=pl.Float64), "c": pl.Series(labels, dtype=pl.String)})
    profile = build_profile(frame, numeric=["x"], categorical=["c"], predictions=preds, bins=bins,
                            max_categories=3)
    data = profile.to_json()
    again = ReferenceProfile.from_json(data)
    assert again == profile and again.to_json() == data
