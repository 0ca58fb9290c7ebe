"""Overhead of driftline's model search over a bare Optuna loop doing the same LightGBM work.

Every runner below runs the *same* trials: the same time holdout, the same search space, the same
TPE seed (run_search derives its sampler seed from the config seed; the bare loop uses that derived
seed), no pruning, so the LightGBM fits are identical and what differs is the machinery around
them: journal storage, per-round reports, trial records. The bench checks that the trials really
matched before it prints the ratios. The last runner is the search as the flows run it, inside a
Prefect task inside a flow; to measure another layer, append a ``Runner`` to ``RUNNERS``.
Run: ``.venv/bin/python benchmarks/bench_search_overhead.py [--trials 20 --repeats 3]`` or through
pytest with ``-m benchmark``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import optuna
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import SearchConfig, run_search  # noqa: E402
from training.objective import REFERENCE_LEARNING_RATE, VALID, prepare_validation  # noqa: E402
from training.space import base_params, build_space, starting_points, suggest  # noqa: E402

FEATURES = ["a", "b", "c", "d", "colour"]


@dataclass(frozen=True)
class Workload:
    frame: pl.DataFrame
    config: SearchConfig  # studies_dir is replaced per run by a fresh temporary folder


Runner = Callable[[Workload, Path], list[dict]]  # returns the params of the trials it ran, in order


def make_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    colour = rng.choice(["red", "green", "blue", "grey", "teal"], size=rows)
    logit = x[:, 0] - 0.7 * x[:, 1] * x[:, 2] + (colour == "red") + rng.normal(scale=1.0, size=rows)
    return pl.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "d": x[:, 3], "colour": colour,
                         "day": np.arange(rows) * 200 // rows, "y": (logit > 0.5).astype(np.int64)})


def bare_optuna(workload: Workload, _: Path, journal: bool = False) -> list[dict]:
    """What a user would write by hand: in-memory (or journal) study, plain lgb.train."""
    config = workload.config
    data = prepare_validation(workload.frame, features=FEATURES, categorical=["colour"], label="y",
                              time_column="day", task=config.task, validation="holdout",
                              validation_fraction=config.validation_fraction, n_folds=config.n_folds)
    space = build_space(config.space)
    base = base_params(config.task, n_classes=1, seed=config.seed, n_threads=config.n_threads,
                       device="cpu", metric="auc")
    cat = data.schema.categorical_indices()

    def objective(trial: optuna.Trial) -> float:
        params = {**suggest(trial, space), **base}
        # The same method as run_search: patience stretched for slow learning rates.
        patience = max(config.early_stopping_rounds, math.ceil(
            config.early_stopping_rounds * REFERENCE_LEARNING_RATE / params["learning_rate"]))
        train = lgb.Dataset(data.x, data.y, categorical_feature=cat, params=params, free_raw_data=False)
        valid = lgb.Dataset(data.x_valid, data.y_valid, reference=train, categorical_feature=cat)
        booster = lgb.train(params, train, config.max_rounds, valid_sets=[valid], valid_names=[VALID],
                            callbacks=[lgb.early_stopping(patience, verbose=False)])
        return float(booster.best_score[VALID]["auc"])

    seed = int(np.random.SeedSequence([config.seed, 0, 0]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, config.n_trials // 3)),
                                             multivariate=True)
    storage = None
    if journal:
        from optuna.storages.journal import JournalFileBackend, JournalStorage
        storage = JournalStorage(JournalFileBackend(str(_ / "bare.journal")))
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage)
    for point in starting_points(space)[:config.n_trials]:  # the same low-cost first points
        study.enqueue_trial(point)
    study.optimize(objective, n_trials=config.n_trials)
    return [t.params for t in study.trials]


def driftline_search(report_every: int) -> Runner:
    def run(workload: Workload, tmp: Path) -> list[dict]:
        config = dataclasses.replace(workload.config, studies_dir=tmp, report_every=report_every)
        result = run_search(workload.frame, features=FEATURES, categorical=["colour"], label="y",
                            time_column="day", config=config)
        return [dict(t.params) for t in result.trials]
    return run


def orchestrated(workload: Workload, tmp: Path) -> list[dict]:
    """run_search as the flows run it: inside a Prefect task inside a flow, publishing the trials as
    a table artifact (tasks.training.search does this plus one audit line). Prefect's temporary
    server is started once by ``warm_up_prefect`` and not charged to any repeat."""
    from prefect import flow, task
    from prefect.artifacts import create_table_artifact
    from prefect.cache_policies import NO_CACHE

    @task(name="search-hyperparameters", cache_policy=NO_CACHE)
    def search_task(frame: pl.DataFrame, config: SearchConfig) -> list[dict]:
        result = run_search(frame, features=FEATURES, categorical=["colour"], label="y",
                            time_column="day", config=config)
        create_table_artifact(key="optuna-trials", table=[
            {"trial": t.number, "state": t.state, "value": t.value, **t.params} for t in result.trials])
        return [dict(t.params) for t in result.trials]

    @flow(name="train-overhead-bench")
    def train_flow() -> list[dict]:
        return search_task(workload.frame, dataclasses.replace(workload.config, studies_dir=tmp, report_every=5))

    from flows.local import local_settings

    with local_settings():  # as `python -m flows` runs flows: against the temporary server
        return train_flow()


def warm_up_prefect() -> float:
    """Start Prefect's temporary server (a per-process cost, ~10 s) before anything is timed."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect import flow

    started = time.perf_counter()
    flow(name="warm-up")(lambda: None)()
    return time.perf_counter() - started


RUNNERS: list[tuple[str, Runner]] = [
    ("bare optuna, in memory", bare_optuna),
    ("bare optuna, journal file", lambda w, p: bare_optuna(w, p, journal=True)),
    ("run_search, report every 5", driftline_search(5)),
    ("run_search, report every 1", driftline_search(1)),
    ("Prefect flow + task, every 5", orchestrated),
]


def measure(trials: int, repeats: int, rows: int, rounds: int, threads: int) -> dict[str, float]:
    """Median wall seconds per runner; raises if a runner did not run the baseline's trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workload = Workload(make_frame(rows), SearchConfig(
        task="binary", n_trials=trials, max_rounds=rounds, early_stopping_rounds=30, pruner="none",
        validation="holdout",
        device="cpu", n_threads=threads))
    times: dict[str, list[float]] = {name: [] for name, _ in RUNNERS}
    reference = None
    for _ in range(repeats):
        for name, runner in RUNNERS:  # interleaved, so machine load hits every runner alike
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                params = runner(workload, Path(tmp))
                times[name].append(time.perf_counter() - started)
            reference = reference or params
            if params != reference:
                raise AssertionError(f"{name} ran other trials than {RUNNERS[0][0]}")
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    # Two searches: a 2-second toy, where fixed costs show, and a 13-second one, still short.
    parser.add_argument("--rows", type=int, nargs="+", default=[5000, 40000])
    parser.add_argument("--rounds", type=int, default=300)
    # One LightGBM thread by default: on a shared, oversubscribed machine two OpenMP threads stall
    # at every barrier whenever one is descheduled, and that noise swamps the overhead measured.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    server_s = warm_up_prefect()
    print(f"os.cpu_count()={os.cpu_count()}  trials={args.trials} max_rounds={args.rounds} threads={args.threads} "
          f"repeats={args.repeats} (median wall time); Prefect's temporary server, once per process: {server_s:.1f} s")
    results = {}
    for rows in args.rows:
        medians = results[rows] = measure(args.trials, args.repeats, rows, args.rounds, args.threads)
        base, journal = medians[RUNNERS[0][0]], medians["bare optuna, journal file"]
        print(f"rows={rows}")
        for name, seconds in medians.items():
            print(f"  {name:<32} {seconds:7.2f} s   x{seconds / base:5.2f}")
        orchestrated = medians["Prefect flow + task, every 5"]
        print(f"  orchestrated vs bare loop on the same journal storage: x{orchestrated / journal:.2f} "
              f"(target <= 1.10), {orchestrated - journal:+.2f} s")
    return results


@pytest.mark.benchmark
def test_search_overhead_is_small() -> None:
    medians = main(["--trials", "12", "--repeats", "2", "--rows", "5000"])[5000]
    assert medians["run_search, report every 5"] < 1.5 * medians["bare optuna, in memory"]


if __name__ == "__main__":
    main()
