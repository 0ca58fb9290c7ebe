"""A request's column is read by polars first, and refused or turned to text exactly as before.

``serving.scoring._column`` used to look at every value in Python for a list or an object before
building the Series; now polars builds it and a nested type (or the error of a mixed column) sends
it to that check. The old form is kept here as the oracle over the shapes JSON can give.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from polars.testing import assert_series_equal

from driftline.errors import InputError
from serving.scoring import _column


def old_column(name: str, values: Any) -> pl.Series:
    if not isinstance(values, list):
        raise InputError(f"column {name!r} is not a list of values (got {type(values).__name__})",
                         hint=f"send {name} as a list, one value per row")
    if any(isinstance(v, (list, dict)) for v in values):
        raise InputError(f"column {name!r} holds a nested list or object; one plain value per row is expected",
                         hint=f"send one number, string, boolean or null per row in {name}")
    try:
        return pl.Series(name, values)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


@pytest.mark.parametrize("values", [
    [[1], [2]], [{"a": 1}], [1, [2]], [1, {"a": 2}], [[1], None], [None, [1, 2]], [{}], [[]], ["x", {"a": 1}],
    [1, 2.5], [None, None], ["a", 1], [1, True], [2**70, 1], [2**70, "x"], [1.5, None, 3], ["  4 ", "yes", None],
    [], [True, False, None], "not a list", {"a": 1}, 3,
], ids=repr)
def test_a_column_is_read_as_before(values: Any) -> None:
    try:
        expected: pl.Series | tuple[str, str | None] = old_column("c", values)
    except InputError as exc:
        expected = (str(exc), exc.hint)
    if isinstance(expected, tuple):
        with pytest.raises(InputError) as caught:
            _column("c", values)
        assert (str(caught.value), caught.value.hint) == expected
    else:
        assert_series_equal(_column("c", values), expected)
