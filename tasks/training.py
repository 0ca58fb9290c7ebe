"""Training tasks: the point-in-time training set, the Optuna search, the final fit, scoring.

Each wraps one call into ``features`` or ``training``; the search publishes its trials as a
Prefect table artifact, so every trial is visible in the UI as well as in the model's lineage.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_API_URL

from features.snapshot import GroupSnapshot
from features.training_set import TrainingSet, build_training_set
from training.model import TrainedModel, fit_final
from training.metrics import resolve_metric
from training.search import SearchConfig, SearchResult, run_search
from tasks.progress import terminal_bar
from tasks.run_artifacts import SearchProgress
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace

__all__ = ["fit", "search", "snapshot_groups", "spread_search", "training_set"]


@task(name="snapshot-groups", cache_policy=NO_CACHE)
def snapshot_groups(ws: Workspace) -> dict[str, GroupSnapshot]:
    """Pin the current Delta version of the label group and every feature group."""
    s = ws.settings
    return {g: ws.store.snapshot(g) for g in (s.label_group, *s.feature_groups)}


@task(name="build-training-set", cache_policy=NO_CACHE)
def training_set(ws: Workspace, snapshots: Mapping[str, GroupSnapshot]) -> TrainingSet:
    s, spec = ws.settings, ws.spec
    # A declared spec names the label, the task and the excluded columns; without one (model-less
    # callers) the label contract's label and task are used, as before specs existed.
    ts = build_training_set(snapshots[s.label_group], [snapshots[g] for g in s.feature_groups], ws.contracts,
                            as_known=s.training.as_known, label_column=spec.label_column if spec else None,
                            task=spec.task if spec else None, exclude=spec.exclude if spec else ())
    run_logger().info("training set: %d rows, %d features, versions %s%s", ts.frame.height,
                      len(ts.feature_columns), dict(ts.versions), ", as known at label time" * ts.as_known)
    return ts


def study_name(ws: Workspace, ts: TrainingSet) -> str:
    """One study per model and training set: rerunning on the same data resumes the same study
    (its completed trials kept), which makes a killed search resumable, and a search worker that
    rebuilds the training set from the same Delta versions joins the same study."""
    return f"{ws.settings.model_name}-{ts.fingerprint[:12]}"


def search_config(ws: Workspace, task_type: str, study_name: str, worker: int = 0) -> SearchConfig:
    metric = ws.spec.metric if ws.spec else None  # the spec's decision metric is also the search's objective
    return SearchConfig.from_settings(ws.settings.training, task=task_type, studies_dir=ws.home.studies,
                                      study_name=study_name, worker=worker, metric=metric)


@task(name="search-hyperparameters", cache_policy=NO_CACHE)
def search(ws: Workspace, ts: TrainingSet, train: pl.DataFrame, *, worker: int = 0) -> SearchResult:
    """Run trials of the training set's study until it holds the trial budget (counted over every
    process working on it); ``worker`` > 0 is a search worker joining the training run's study."""
    config = search_config(ws, ts.task, study_name(ws, ts), worker)
    metric = resolve_metric(config.task, config.metric)
    # The UI's progress artifact: trials against the budget, best so far, updated per trial. (The
    # trials table is published once the version is known: tasks.run_artifacts.publish_trials.)
    progress = SearchProgress(model=ws.settings.model_name, study=config.study_name, budget=config.n_trials,
                              direction=metric.direction, metric=metric.name)
    # A bar (trials against the budget, best so far) when a person runs the command at a terminal
    # (tasks.progress); workers, CI and pipes get none.
    with terminal_bar(f"search {ws.settings.model_name}") as bar:
        result = run_search(train, features=ts.feature_columns, categorical=ts.categorical_columns,
                            label=ts.label_column, time_column=ts.time_column, config=config,
                            progress=bar, on_trial=progress, positive=ws.spec.positive if ws.spec else None)
    run_logger().info("search: best %s %.4f after %d trials (%d pruned) on %s", result.metric,
                      result.best_value, len(result.trials), result.n_pruned, result.device)
    ws.audit.append("model.train", f"study:{result.study_name}", {
        "training_set_sha256": ts.fingerprint, "versions": dict(ts.versions), "rows": train.height,
        "metric": result.metric, "best_value": result.best_value, "best_iteration": result.best_iteration,
        "trials": len(result.trials), "completed": result.n_completed, "pruned": result.n_pruned,
        "device": result.device, "storage": result.storage.split("://")[0], "worker": worker},
        actor=ws.actor(flow_run_id()))
    return result


@task(name="spread-search", cache_policy=NO_CACHE)
def spread_search(ws: Workspace, ts: TrainingSet) -> list[str]:
    """Pool mode: start ``parallel_workers - 1`` search-worker runs on the pool to share the study.

    They need what every worker can reach: a study in the storage URL (not a local journal file)
    and a Prefect server to run the deployment. Otherwise the training run searches alone. The
    runs are started, not awaited: the study's trial budget ends them together with this run.
    """
    t = ws.settings.training
    if t.parallel_workers <= 1 or t.storage is None or not PREFECT_API_URL.value():
        return []
    from prefect.deployments import run_deployment

    started = []
    for worker in range(1, t.parallel_workers):
        run = run_deployment("search-worker/search-worker", timeout=0, as_subflow=False, parameters={
            "model": ws.settings.model_name, "versions": dict(ts.versions), "worker": worker})
        started.append(str(run.id))
    run_logger().info("study %s: %d search worker(s) started on the pool", study_name(ws, ts), len(started))
    return started


@task(name="fit-final-model", cache_policy=NO_CACHE)
def fit(ws: Workspace, ts: TrainingSet, train: pl.DataFrame, result: SearchResult) -> TrainedModel:
    t = ws.settings.training
    return fit_final(train, features=ts.feature_columns, categorical=ts.categorical_columns,
                     label=ts.label_column, task=ts.task, params=result.best_params,
                     num_boost_round=result.refit_rounds, seed=t.seed, n_threads=t.n_threads,
                     device=result.device, positive=ws.spec.positive if ws.spec else None)
