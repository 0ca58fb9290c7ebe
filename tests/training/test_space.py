"""The search space: defaults, overrides from code or JSON-ish settings, fixed values."""

from __future__ import annotations

import optuna
import pytest

from driftline.errors import ConfigError
from training import DEFAULT_SPACE, Choice, FloatRange, IntRange, build_space
from training.space import base_params, fixed_params, suggest


def test_default_space_covers_the_lightgbm_knobs() -> None:
    assert set(DEFAULT_SPACE) == {"num_leaves", "learning_rate", "min_data_in_leaf", "feature_fraction",
                                  "bagging_fraction", "bagging_freq", "lambda_l1", "lambda_l2", "max_bin"}


def test_default_space_offers_coarse_histograms_and_starts_at_255_bins() -> None:
    from training.space import starting_points

    assert DEFAULT_SPACE["max_bin"] == Choice((15, 31, 63, 127, 255))
    assert all(point["max_bin"] == 255 for point in starting_points(build_space()))


def test_overrides_parse_drop_and_fix() -> None:
    space = build_space({"num_leaves": {"low": 4, "high": 16, "log": True},
                         "learning_rate": {"low": 0.05, "high": 0.1},
                         "max_bin": {"choices": [31, 63]}, "lambda_l1": None, "extra_trees": True})
    assert space["num_leaves"] == IntRange(4, 16, log=True)
    assert space["learning_rate"] == FloatRange(0.05, 0.1)
    assert space["max_bin"] == Choice((31, 63))
    assert "lambda_l1" not in space
    assert fixed_params(space) == {"extra_trees": True}


def test_suggest_stays_inside_the_space() -> None:
    space = build_space({"num_leaves": IntRange(4, 6), "extra_trees": True})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        params = suggest(study.ask(), space)
        assert 4 <= params["num_leaves"] <= 6 and params["extra_trees"] is True
        assert params["max_bin"] in DEFAULT_SPACE["max_bin"].options


def test_bad_ranges_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="low <= high"):
        build_space({"num_leaves": {"low": 9, "high": 3}})
    with pytest.raises(ConfigError, match="search-space entry 'max_bin'"):
        build_space({"max_bin": {"from": 1}})


def test_base_params_are_quiet_seeded_and_threaded() -> None:
    params = base_params("multiclass", n_classes=3, seed=5, n_threads=2, device="cpu", metric="multi_logloss")
    assert params["verbosity"] == -1 and params["seed"] == 5 and params["num_threads"] == 2
    assert params["num_class"] == 3 and params["deterministic"] is True


def test_starting_points_are_clipped_into_the_space_and_skip_fixed_values() -> None:
    from training.space import STARTING_POINTS, starting_points

    space = build_space({"num_leaves": IntRange(10, 20), "max_bin": Choice((31, 63)), "lambda_l1": 0.5,
                         "learning_rate": None})
    points = starting_points(space)
    assert len(points) == len(STARTING_POINTS)
    first, second = points
    assert (first["num_leaves"], second["num_leaves"]) == (10, 20)  # 7 and 31 clipped into [10, 20]
    assert first["max_bin"] == second["max_bin"] == 63  # 255 is not offered: the nearest option
    assert "lambda_l1" not in first and "learning_rate" not in first
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(first)
    assert suggest(study.ask(), space) == {**first, "lambda_l1": 0.5}


def test_starting_points_collapse_when_the_space_makes_them_equal() -> None:
    from training.space import starting_points

    space = {"num_leaves": IntRange(4, 4), "learning_rate": FloatRange(0.05, 0.05)}
    assert starting_points(space) == ({"num_leaves": 4, "learning_rate": 0.05},)
    assert starting_points({"extra_trees": True}) == ()
