"""Training tasks: the point-in-time training set, the Optuna search, the final fit, scoring.

Each wraps one call into ``features`` or ``training``; the search publishes its trials as a
Prefect table artifact, so every trial is visible in the UI as well as in the model's lineage.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np
import polars as pl
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from features.snapshot import GroupSnapshot
from features.training_set import TrainingSet, build_training_set
from training.model import TrainedModel, fit_final
from training.search import SearchConfig, SearchResult, run_search
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace


@task(name="snapshot-groups", cache_policy=NO_CACHE)
def snapshot_groups(ws: Workspace) -> dict[str, GroupSnapshot]:
    """Pin the current Delta version of the label group and every feature group."""
    s = ws.settings
    return {g: ws.store.snapshot(g) for g in (s.label_group, *s.feature_groups)}


@task(name="build-training-set", cache_policy=NO_CACHE)
def training_set(ws: Workspace, snapshots: Mapping[str, GroupSnapshot]) -> TrainingSet:
    s = ws.settings
    ts = build_training_set(snapshots[s.label_group], [snapshots[g] for g in s.feature_groups], ws.contracts)
    run_logger().info("training set: %d rows, %d features, versions %s", ts.frame.height,
                      len(ts.feature_columns), dict(ts.versions))
    return ts


def search_config(ws: Workspace, task_type: str, study_name: str) -> SearchConfig:
    t = ws.settings.training
    return SearchConfig(
        task=task_type, n_trials=t.n_trials, timeout_s=t.timeout_s, patience=t.patience, seed=t.seed,
        n_threads=t.n_threads, device=t.device, early_stopping_rounds=t.early_stopping_rounds,
        max_rounds=t.max_rounds,
        storage=t.storage, studies_dir=ws.home.studies, study_name=study_name)


@task(name="search-hyperparameters", cache_policy=NO_CACHE)
def search(ws: Workspace, ts: TrainingSet, train: pl.DataFrame) -> SearchResult:
    """One study per model and training set: rerunning on the same data resumes the same study
    (its completed trials kept), which is what makes a killed search resumable."""
    config = search_config(ws, ts.task, f"{ws.settings.model_name}-{ts.fingerprint[:12]}")
    # A progress bar when a person watches a local run; workers and CI write to no terminal.
    result = run_search(train, features=ts.feature_columns, categorical=ts.categorical_columns,
                        label=ts.label_column, time_column=ts.time_column, config=config,
                        progress=sys.stderr.isatty())
    create_table_artifact(key="optuna-trials", description=f"Trials of study {result.study_name}", table=[
        {"trial": t.number, "state": t.state, result.metric: t.value, "seconds": round(t.duration_s, 2),
         **{k: v for k, v in t.params.items()}} for t in result.trials])
    run_logger().info("search: best %s %.4f after %d trials (%d pruned) on %s", result.metric,
                      result.best_value, len(result.trials), result.n_pruned, result.device)
    ws.audit.append("model.train", f"study:{result.study_name}", {
        "training_set_sha256": ts.fingerprint, "versions": dict(ts.versions), "rows": train.height,
        "metric": result.metric, "best_value": result.best_value, "best_iteration": result.best_iteration,
        "trials": len(result.trials), "completed": result.n_completed, "pruned": result.n_pruned,
        "device": result.device, "storage": result.storage.split("://")[0]}, actor=ws.actor(flow_run_id()))
    return result


@task(name="fit-final-model", cache_policy=NO_CACHE)
def fit(ws: Workspace, ts: TrainingSet, train: pl.DataFrame, result: SearchResult) -> TrainedModel:
    t = ws.settings.training
    return fit_final(train, features=ts.feature_columns, categorical=ts.categorical_columns,
                     label=ts.label_column, task=ts.task, params=result.best_params,
                     num_boost_round=result.refit_rounds, seed=t.seed, n_threads=t.n_threads,
                     device=result.device)


def predict(model: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(frame), dtype=float)
