"""Label matching on three-row frames: the first label at or after the score, within the horizon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from monitoring.labels import LabelledScores, match_labels

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HORIZON = timedelta(days=7)


def scores(ids, times, values) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ids, "event_time": times, "score": values})


def labels(ids, times, values) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ids, "label_time": times, "label": values})


def test_each_score_takes_its_entitys_first_label_at_or_after_it() -> None:
    s = scores([1, 2, 3], [T0, T0, T0 + DAY], [0.9, 0.2, 0.6])
    lab = labels([1, 1, 2], [T0 + 2 * DAY, T0 + 3 * DAY, T0], [1, 0, 0])  # 3 has no label yet
    matched = match_labels(s, lab, keys=["customer_id"], horizon=HORIZON)
    assert matched is not None and matched.rows == 2
    assert sorted(zip(matched.scores.tolist(), matched.labels.tolist(), strict=True)) == [(0.2, 0.0), (0.9, 1.0)]


def test_labels_before_the_score_or_past_the_horizon_do_not_count() -> None:
    s = scores([1, 2, 3], [T0, T0, T0], [0.1, 0.2, 0.3])
    lab = labels([1, 2, 3], [T0 - DAY, T0 + HORIZON, T0 + HORIZON - DAY], [1, 1, 0])
    matched = match_labels(s, lab, keys=["customer_id"], horizon=HORIZON)
    assert matched is not None and matched.scores.tolist() == [0.3] and matched.labels.tolist() == [0.0]


def test_keys_of_several_columns_match_only_on_all_of_them() -> None:
    s = pl.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"], "event_time": [T0] * 3, "score": [0.1, 0.2, 0.3]})
    lab = pl.DataFrame({"a": [1, 2, 2], "b": ["y", "y", "x"], "label_time": [T0 + DAY] * 3, "label": [1, 0, 1]})
    matched = match_labels(s, lab, keys=["a", "b"], horizon=HORIZON)
    assert sorted(zip(matched.scores.tolist(), matched.labels.tolist(), strict=True)) == [(0.2, 1.0), (0.3, 1.0)]


def test_nothing_to_match_is_none_not_an_empty_result() -> None:
    s = scores([1, 2, 3], [T0] * 3, [0.1, 0.2, 0.3])
    assert match_labels(s, labels([9], [T0], [1]), keys=["customer_id"], horizon=HORIZON) is None
    assert match_labels(s.clear(), labels([1], [T0], [1]), keys=["customer_id"], horizon=HORIZON) is None
    assert match_labels(s, labels([1], [T0], [1]).clear(), keys=["customer_id"], horizon=HORIZON) is None


def test_frames_without_the_expected_columns_are_refused() -> None:
    s = scores([1, 2, 3], [T0] * 3, [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match=r"labels frame lacks columns \['label_time'\]") as caught:
        match_labels(s, labels([1], [T0], [1]).rename({"label_time": "t"}), keys=["customer_id"], horizon=HORIZON)
    assert caught.value.hint


def test_labelled_scores_cannot_be_built_misaligned_or_non_binary() -> None:
    ok = LabelledScores([1, 0, np.nan], [0.5, 0.4, 0.3])
    assert ok.labels.dtype == np.float64 and ok.rows == 3
    with pytest.raises(InputError, match="3 labels for 2 predictions"):
        LabelledScores([1, 0, 1], [0.5, 0.4])
    with pytest.raises(InputError, match="0 or 1"):
        LabelledScores([1, 0, 0.5], [0.5, 0.4, 0.3])


def test_a_label_group_timed_by_dates_matches_scores_timed_to_the_microsecond() -> None:
    # An event time declared `date` (the Palmer penguins' date_egg) is read as a date, the
    # predictions' times as UTC datetimes: a date means its midnight UTC, not a crash inside polars.
    s = scores([1, 2], [T0, T0 + DAY], [0.8, 0.3])
    lab = labels([1, 2], [T0.date(), (T0 + 2 * DAY).date()], [1, 0])
    matched = match_labels(s, lab, keys=["customer_id"], horizon=HORIZON)
    assert matched is not None and matched.scores.tolist() == [0.8, 0.3] and matched.labels.tolist() == [1.0, 0.0]
