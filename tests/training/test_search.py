"""run_search end to end on tiny data: every task, budgets, patience, pruning, determinism, and
the hand-over to fit_final."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

from driftline.errors import ConfigError, TrainingError
from training import SearchConfig, evaluate, fit_final, run_search, time_holdout


@pytest.mark.parametrize("dataset,task,metric,direction", [
    ("breast_cancer", "binary", "auc", "maximize"),
    ("wine", "multiclass", "multi_logloss", "minimize"),
    ("diabetes", "regression", "rmse", "minimize"),
])
def test_each_task_searches_and_refits(load_bundled, tmp_path: Path, dataset, task, metric, direction) -> None:
    frame, features = load_bundled(dataset)
    train, test = time_holdout(frame, "day", 0.25)
    config = SearchConfig(task=task, n_trials=5, max_rounds=60, early_stopping_rounds=10, device="cpu",
                          n_threads=1, studies_dir=tmp_path, study_name=dataset)
    result = run_search(train, features=features, categorical=[], label="y", time_column="day",
                        config=config)
    assert (result.metric, result.direction, result.device) == (metric, direction, "cpu")
    assert len(result.trials) == 5 and result.n_completed + result.n_pruned == 5
    assert 1 <= result.best_iteration <= 60
    model = fit_final(train, features=features, categorical=[], label="y", task=task,
                      params=result.best_params, num_boost_round=result.best_iteration, seed=1, n_threads=1)
    scores = evaluate(model.schema.labels(test, "y"), model.predict(test), task)
    # Far better than chance on these easy sets; a broken encoding or label would miss it.
    if task == "binary":
        assert scores["auc"] > 0.9
    elif task == "multiclass":
        assert scores["accuracy"] > 0.8
    else:
        assert scores["r2"] > 0.2


def test_trial_records_carry_params_intermediates_state_duration(binary_frame, quick_config, search_args) -> None:
    seen = []
    result = run_search(binary_frame, config=quick_config, on_trial=seen.append, **search_args)
    assert [r.number for r in seen] == [r.number for r in result.trials] == list(range(6))
    for record in result.trials:
        assert record.state in ("COMPLETE", "PRUNED")
        assert set(record.params) >= {"num_leaves", "learning_rate", "max_bin"}
        assert record.intermediate and all(step % 5 == 0 for step in record.intermediate)
        assert record.duration_s is not None and record.duration_s > 0
        if record.state == "COMPLETE":
            assert record.best_iteration is not None and record.value is not None
    best = max((r for r in result.trials if r.state == "COMPLETE"), key=lambda r: r.value)
    assert result.best_value == best.value and dict(result.best_params) == dict(best.params)


def test_progress_counts_finished_trials_against_the_budget_with_the_best_so_far(
        binary_frame, quick_config, search_args) -> None:
    calls: list[tuple[int, int, str]] = []
    result = run_search(binary_frame, config=dataclasses.replace(quick_config, n_trials=4),
                        progress=lambda *c: calls.append(c), **search_args)
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert calls[-1][2] == f"best auc {result.best_value:.5g}"
    # A resumed study counts what it already holds: two more trials of a budget of six.
    again: list[tuple[int, int, str]] = []
    run_search(binary_frame, config=dataclasses.replace(quick_config, n_trials=6),
               progress=lambda *c: again.append(c), **search_args)
    assert [(done, total) for done, total, _ in again] == [(5, 6), (6, 6)]


def test_same_seed_same_search(binary_frame, quick_config, search_args) -> None:
    one = run_search(binary_frame, config=quick_config, **search_args)
    two = run_search(binary_frame, config=dataclasses.replace(quick_config, study_name="again"), **search_args)
    assert [(t.params, t.value, t.state) for t in one.trials] == [(t.params, t.value, t.state) for t in two.trials]
    other = run_search(binary_frame, config=dataclasses.replace(quick_config, study_name="s7", seed=7),
                       **search_args)
    assert [t.params for t in other.trials] != [t.params for t in one.trials]


def test_expanding_validation(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, validation="expanding", n_folds=3)
    result = run_search(binary_frame, config=config, **search_args)
    assert result.n_completed >= 1 and 0.5 < result.best_value <= 1.0


def test_median_pruner_prunes_and_pruned_trials_stop_early(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, n_trials=12, max_rounds=100, early_stopping_rounds=100,
                                 pruner="median")
    result = run_search(binary_frame, config=config, **search_args)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert result.n_pruned == len(pruned) > 0
    assert all(max(t.intermediate) < 100 for t in pruned)


def test_auto_pruner_prunes_on_a_holdout_and_not_on_folds(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, n_trials=12, max_rounds=100, early_stopping_rounds=100)
    assert config.pruner == "auto"
    folds = run_search(binary_frame, config=config, **search_args)  # 2000 rows: expanding folds
    assert folds.n_pruned == 0 and folds.n_completed == 12
    holdout = run_search(binary_frame, config=dataclasses.replace(config, validation="holdout",
                                                                  study_name="holdout"), **search_args)
    assert holdout.n_pruned > 0
    assert all(max(t.intermediate) < 100 for t in holdout.trials if t.state == "PRUNED")


def test_hyperband_pruner_runs(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, n_trials=10, max_rounds=60, early_stopping_rounds=60,
                                 pruner="hyperband")
    result = run_search(binary_frame, config=config, **search_args)
    assert result.n_pruned > 0 and result.n_completed > 0


def test_patience_stops_after_trials_without_improvement(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, n_trials=60, patience=3)
    result = run_search(binary_frame, config=config, **search_args)
    finished = [t for t in result.trials if t.state in ("COMPLETE", "PRUNED")]
    best_number = next(t.number for t in result.trials if t.value == result.best_value and t.state == "COMPLETE")
    assert len(finished) < 60
    assert sum(t.number > best_number for t in finished) == 3


def test_timeout_budget_stops_the_search(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, n_trials=10_000, timeout_s=1.5)
    started = time.monotonic()
    result = run_search(binary_frame, config=config, **search_args)
    elapsed = time.monotonic() - started
    longest = max(t.duration_s for t in result.trials)
    assert 1 <= len(result.trials) < 10_000
    assert elapsed < 1.5 + longest + 3.0  # one trial may finish after the deadline, plus set-up


def test_trial_budget_counts_the_whole_study(binary_frame, quick_config, search_args) -> None:
    run_search(binary_frame, config=quick_config, **search_args)
    again = run_search(binary_frame, config=quick_config, **search_args)
    assert len(again.trials) == 6  # budget already spent: nothing new ran
    more = run_search(binary_frame, config=dataclasses.replace(quick_config, n_trials=8), **search_args)
    assert len(more.trials) == 8
    # A resumed run must not replay the first run's random start-up points.
    assert more.trials[6].params != more.trials[0].params


def test_study_refuses_another_metric(binary_frame, quick_config, search_args) -> None:
    run_search(binary_frame, config=dataclasses.replace(quick_config, n_trials=1), **search_args)
    with pytest.raises(TrainingError, match="optimises 'auc', not 'binary_logloss'"):
        run_search(binary_frame, config=dataclasses.replace(quick_config, metric="logloss"), **search_args)


def test_space_override_is_honoured(binary_frame, quick_config, search_args) -> None:
    config = dataclasses.replace(quick_config, space={"num_leaves": {"low": 4, "high": 6}, "max_bin": 31})
    result = run_search(binary_frame, config=config, **search_args)
    assert all(4 <= t.params["num_leaves"] <= 6 and "max_bin" not in t.params for t in result.trials)
    assert result.best_params["max_bin"] == 31


def test_config_and_data_errors_are_clear(binary_frame, quick_config, search_args) -> None:
    with pytest.raises(ConfigError, match="does not fit task 'binary'"):
        SearchConfig(task="binary", metric="rmse")
    with pytest.raises(ConfigError, match="n_trials is 0"):
        SearchConfig(task="binary", n_trials=0)
    with pytest.raises(ConfigError, match="no study storage"):
        run_search(binary_frame, config=dataclasses.replace(quick_config, studies_dir=None), **search_args)
    one_day = binary_frame.with_columns(day=np.zeros(binary_frame.height, dtype=np.int64))
    with pytest.raises(TrainingError, match="1 distinct value"):
        run_search(one_day, config=quick_config, **search_args)


def test_the_search_draws_nothing_itself(binary_frame, quick_config, search_args, capsys) -> None:
    # Bars are the command line's (flows/progress_bar.py, on a terminal only); the search only calls back.
    run_search(binary_frame, config=dataclasses.replace(quick_config, n_trials=2), **search_args)
    assert capsys.readouterr().err == ""


def test_config_from_settings(tmp_path: Path) -> None:
    from driftline.settings import TrainingSettings

    settings = TrainingSettings(n_trials=7, patience=3, seed=9, n_threads=1, device="cpu", timeout_s=12.0,
                                max_rounds=250, early_stopping_rounds=15, pruner="hyperband")
    config = SearchConfig.from_settings(settings, task="binary", studies_dir=tmp_path, study_name="churn")
    assert (config.n_trials, config.patience, config.seed, config.n_threads, config.device) == (7, 3, 9, 1, "cpu")
    assert config.timeout_s == 12.0 and config.studies_dir == tmp_path and config.study_name == "churn"
    assert (config.max_rounds, config.early_stopping_rounds, config.pruner) == (250, 15, "hyperband")
    # every TrainingSettings field that describes the search reaches the config
    # (holdout_fraction, parallel_workers and as_known shape the training set or the pool, not the search)
    assert set(TrainingSettings.model_fields) - {"holdout_fraction", "parallel_workers", "as_known"} <= {
        f for f in SearchConfig.__dataclass_fields__}


def test_a_new_study_starts_from_the_low_cost_points(binary_frame, quick_config, search_args) -> None:
    from training.space import build_space, starting_points

    points = starting_points(build_space())
    first = run_search(binary_frame, config=quick_config, **search_args)
    assert [dict(t.params) for t in first.trials[:len(points)]] == list(points)
    # A resumed run and a second worker sample instead of queueing the same points again.
    more = run_search(binary_frame, config=dataclasses.replace(quick_config, n_trials=9), **search_args)
    assert all(dict(t.params) not in points for t in more.trials[6:])
    other = run_search(binary_frame, config=dataclasses.replace(quick_config, study_name="w1", worker=1),
                       **search_args)
    assert all(dict(t.params) not in points for t in other.trials)


def test_refit_rounds_scale_the_best_iteration_to_all_rows(binary_frame, quick_config, search_args) -> None:
    holdout = run_search(binary_frame, config=dataclasses.replace(quick_config, validation="holdout"),
                         **search_args)
    # the holdout keeps 20 of 100 days apart: a refit on all of them gets 100/80 of the rounds
    assert holdout.refit_rounds == int(np.ceil(holdout.best_iteration * 100 / 80))
    auto = run_search(binary_frame, config=dataclasses.replace(quick_config, study_name="auto"), **search_args)
    assert auto.best_iteration < auto.refit_rounds <= int(np.ceil(auto.best_iteration * 4 / 3))


def test_a_long_trial_is_cut_at_the_wall_budget(binary_frame, quick_config, search_args) -> None:
    endless = dataclasses.replace(quick_config, n_trials=3, max_rounds=1_000_000, pruner="none",
                                  early_stopping_rounds=1_000_000, space={"learning_rate": 1e-4},
                                  validation="holdout", timeout_s=1.0)
    started = time.monotonic()
    result = run_search(binary_frame, config=endless, **search_args)
    assert time.monotonic() - started < 1.0 + 15.0  # a million rounds would take minutes
    # The cut trial ends as early stopping would: complete, at its best round so far.
    # Nothing starts after the budget: the second starting point still waits for a resumed run.
    assert [t.state for t in result.trials] == ["COMPLETE", "WAITING"]
    cut = result.trials[0]
    assert 0 < cut.best_iteration <= max(cut.intermediate) + 5 < 1_000_000
    assert result.best_value >= max(cut.intermediate.values())  # best of every round, reported or not
