"""Search quality at a fixed wall budget: driftline's run_search against FLAML and Optuna's
LightGBMTunerCV, over several seeds, on scikit-learn's bundled datasets and one larger synthetic set.

Each contestant gets the same training rows (the earlier 75% of a fixed pseudo-time), the same
wall budget and one thread, and is scored on the same later 25%, which no search sees: test AUC
for breast_cancer and synthetic (50,000 rows of ``make_classification``), test log loss for wine
and digits, test RMSE for diabetes. Each line prints mean ± sd over the seeds, the seeds' scores
and the mean wall time of search plus refit. FLAML and optuna-integration stay out of the main
install: run this with the separate venv made by
``python -m venv benchmarks/.out/venv-quality && benchmarks/.out/venv-quality/bin/pip install
"flaml[automl]" optuna-integration optuna lightgbm polars scikit-learn tqdm pydantic-settings pandas``,
then ``benchmarks/.out/venv-quality/bin/python benchmarks/bench_search_quality.py [--budget 10
--seeds 3]``. A contestant whose library is missing is skipped and says so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn import datasets, metrics
from sklearn.model_selection import TimeSeriesSplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import SearchConfig, fit_final, run_search, time_holdout  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    task: str  # driftline task
    score_name: str
    higher_is_better: bool
    train: pl.DataFrame
    test: pl.DataFrame
    features: tuple[str, ...]

    def xy(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return frame.select(self.features).to_numpy(), frame.get_column("y").to_numpy()

    def score(self, y: np.ndarray, pred: np.ndarray) -> float:
        if self.task == "binary":
            return float(metrics.roc_auc_score(y, pred))
        if self.task == "multiclass":
            return float(metrics.log_loss(y, pred, labels=np.arange(pred.shape[1])))
        return float(np.sqrt(metrics.mean_squared_error(y, pred)))


def _synthetic() -> tuple[np.ndarray, np.ndarray]:
    # Fixed seed: the data set is part of the benchmark, the contestants' seeds vary.
    return datasets.make_classification(n_samples=50_000, n_features=30, n_informative=12, n_redundant=6,
                                        flip_y=0.05, class_sep=0.8, random_state=11)


def load_case(name: str) -> Case:
    loader, task, score, higher = {
        "breast_cancer": (datasets.load_breast_cancer, "binary", "test auc", True),
        "wine": (datasets.load_wine, "multiclass", "test logloss", False),
        "digits": (datasets.load_digits, "multiclass", "test logloss", False),
        "diabetes": (datasets.load_diabetes, "regression", "test rmse", False),
        "synthetic": (_synthetic, "binary", "test auc", True)}[name]
    loaded = loader()
    data, target = loaded if isinstance(loaded, tuple) else (loaded.data, loaded.target)
    features = tuple(f"f{i}" for i in range(data.shape[1]))
    order = np.random.default_rng(7).permutation(len(target))  # bundled files are sorted by class
    per_day = max(5, len(target) // 1000)  # at most ~1000 distinct days
    frame = pl.DataFrame(data[order], schema=list(features)).with_columns(
        y=pl.Series(target[order]), day=pl.Series(np.arange(len(order)) // per_day))
    train, test = time_holdout(frame, "day", 0.25)
    return Case(name, task, score, higher, train, test, features)


def driftline(case: Case, budget: float, seed: int) -> float:
    with tempfile.TemporaryDirectory() as studies:
        config = SearchConfig(task=case.task, n_trials=100_000, timeout_s=budget, seed=seed, n_threads=1,
                              device="cpu", studies_dir=Path(studies), max_rounds=1000)
        result = run_search(case.train, features=case.features, categorical=[], label="y",
                            time_column="day", config=config)
    model = fit_final(case.train, features=case.features, categorical=[], label="y", task=case.task,
                      params=result.best_params, num_boost_round=result.refit_rounds, seed=seed, n_threads=1)
    return case.score(case.test.get_column("y").to_numpy(), model.predict(case.test))


def flaml(case: Case, budget: float, seed: int) -> float:
    from flaml import AutoML

    task, metric = {"binary": ("classification", "roc_auc"), "multiclass": ("classification", "log_loss"),
                    "regression": ("regression", "rmse")}[case.task]
    automl = AutoML()
    x, y = case.xy(case.train)
    # split_type="time" keeps FLAML's own validation in time order, like ours.
    automl.fit(x, y, task=task, metric=metric, time_budget=budget, estimator_list=["lgbm"], seed=seed,
               n_jobs=1, split_type="time", verbose=0)
    x_test, y_test = case.xy(case.test)
    pred = automl.predict_proba(x_test) if case.task != "regression" else automl.predict(x_test)
    return case.score(y_test, pred[:, 1] if case.task == "binary" else pred)


def tuner_cv(case: Case, budget: float, seed: int) -> float:
    from optuna_integration.lightgbm import LightGBMTunerCV

    x, y = case.xy(case.train)
    params = {"objective": case.task, "verbosity": -1, "num_threads": 1, "seed": seed,
              "metric": {"binary": "auc", "multiclass": "multi_logloss", "regression": "rmse"}[case.task]}
    if case.task == "multiclass":
        params["num_class"] = len(np.unique(y))
    tuner = LightGBMTunerCV(params, lgb.Dataset(x, y), folds=TimeSeriesSplit(3), time_budget=budget,
                            return_cvbooster=True, callbacks=[lgb.early_stopping(30, verbose=False)],
                            seed=seed, show_progress_bar=False, optuna_seed=seed)
    tuner.run()
    boosters = tuner.get_best_booster()
    x_test, y_test = case.xy(case.test)
    return case.score(y_test, np.mean(boosters.predict(x_test), axis=0))


CONTESTANTS: list[tuple[str, Callable[[Case, float, int], float]]] = [
    ("driftline run_search", driftline), ("FLAML (lgbm)", flaml), ("LightGBMTunerCV", tuner_cv)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="wall seconds per search")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+",
                        default=["breast_cancer", "wine", "digits", "diabetes", "synthetic"])
    args = parser.parse_args(argv)
    print(f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, one thread per fit",
          flush=True)
    warnings.filterwarnings("ignore")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in args.datasets:
        case = load_case(name)
        better = "higher" if case.higher_is_better else "lower"
        print(f"{name}: {case.train.height} train / {case.test.height} test rows, "
              f"{case.score_name} ({better} is better), budget {args.budget:g} s, seeds 0..{args.seeds - 1}")
        for label, contestant in CONTESTANTS:
            scores, seconds = [], []
            try:
                for seed in range(args.seeds):
                    started = time.monotonic()
                    scores.append(contestant(case, args.budget, seed))
                    seconds.append(time.monotonic() - started)
            except ImportError as exc:
                print(f"  {label:<22} skipped: {exc}")
                continue
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            print(f"  {label:<22} {statistics.mean(scores):.4f} ± {spread:.4f}   "
                  f"[{', '.join(f'{s:.4f}' for s in scores)}]   {statistics.mean(seconds):5.1f} s",
                  flush=True)
    # The budget is wall time: a busy machine runs fewer trials, so say how busy it was throughout.
    print(f"load average at the end {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
