"""The model search: a seeded TPE study over LightGBM parameters, with pruning and budgets.

:func:`run_search` splits the frame in time, opens (or resumes) the study in its storage, runs
trials until the trial budget, the wall-time budget or the patience runs out, and returns a
:class:`SearchResult` listing every trial of the study, including those of earlier or concurrent
runs. The trial budget counts finished (complete or pruned) trials of the whole study, so a run
resumed after a crash only runs what is left, and several processes sharing one study stop
together. A new study first tries the space's low-cost starting points (small trees, then
LightGBM's defaults), then a multivariate TPE that models the parameters jointly. Trials are
pruned (median pruner) when the search validates on a holdout, not on expanding folds. The result
carries what :func:`training.model.fit_final` needs: the best parameters (fixed ones included),
the best round count, and ``refit_rounds``, that count scaled to a refit on every row given.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import polars as pl
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from driftline.errors import ConfigError, TrainingError
from driftline.progress import Progress
from driftline.progress import report as report_progress
from driftline.settings import TrainingSettings
from training.device import choose_device
from training.metrics import resolve_metric
from training.objective import Objective, prepare_validation
from training.space import base_params, build_space, fixed_params, starting_points
from training.study_storage import StudyStorage, fail_dead_trials, open_storage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class SearchConfig:
    """What to search and with which budget. The constructor refuses values that cannot run, so a
    config that exists is one run_search accepts; ``from_settings`` builds it from the edge's
    ``TrainingSettings``."""

    task: Literal["binary", "multiclass", "regression"]
    metric: str | None = None  # default per task: auc / multi_logloss / rmse
    n_trials: int = 20  # finished trials of the whole study, across runs and processes
    timeout_s: float | None = None
    patience: int | None = None  # stop after this many finished trials without a new best
    seed: int = 42
    n_threads: int = 2
    device: str = "auto"
    early_stopping_rounds: int = 30
    # "auto": expanding folds on small frames (a less noisy objective), one holdout on large ones
    validation: Literal["auto", "holdout", "expanding"] = "auto"
    n_folds: int = 3
    validation_fraction: float = 0.2
    storage: str | None = None  # Optuna RDB URL; None -> journal file under studies_dir
    studies_dir: Path | None = None
    study_name: str = "driftline"
    space: Mapping[str, Any] | None = None  # overrides of training.space.DEFAULT_SPACE
    max_rounds: int = 1000  # boosting rounds per trial before early stopping
    # "auto": the median pruner on a holdout, none on expanding folds (see _pruner)
    pruner: Literal["auto", "median", "hyperband", "none"] = "auto"
    report_every: int = 5  # rounds between reports to the pruner (each is one storage write)
    worker: int = 0  # distinct per process joining one study, so their samplers differ

    def __post_init__(self) -> None:
        for name in ("n_trials", "n_threads", "early_stopping_rounds", "n_folds", "max_rounds",
                     "report_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"SearchConfig.{name} is {getattr(self, name)}", hint="use 1 or more")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"SearchConfig.patience is {self.patience}", hint="use None or 1 or more")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigError(f"SearchConfig.timeout_s is {self.timeout_s}", hint="use None or > 0")
        resolve_metric(self.task, self.metric)  # fails early on a metric that does not fit the task

    @classmethod
    def from_settings(cls, settings: TrainingSettings, *, task: str, studies_dir: Path | None,
                      **overrides: Any) -> SearchConfig:
        """The search the settings describe; ``overrides`` set the fields settings do not hold."""
        fields = {"n_trials": settings.n_trials, "timeout_s": settings.timeout_s,
                  "patience": settings.patience, "seed": settings.seed, "n_threads": settings.n_threads,
                  "device": settings.device, "early_stopping_rounds": settings.early_stopping_rounds,
                  "max_rounds": settings.max_rounds, "storage": settings.storage, "pruner": settings.pruner}
        return cls(task=task, studies_dir=studies_dir, **{**fields, **overrides})  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the study stored it. ``intermediate`` maps boosting round -> validation metric."""

    number: int
    state: str  # "COMPLETE" | "PRUNED" | "FAIL" | "RUNNING" | "WAITING"
    value: float | None
    params: Mapping[str, Any]
    intermediate: Mapping[int, float]
    duration_s: float | None
    best_iteration: int | None

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord:
        return cls(trial.number, trial.state.name, trial.value, dict(trial.params),
                   dict(sorted(trial.intermediate_values.items())),
                   trial.duration.total_seconds() if trial.duration is not None else None,
                   trial.user_attrs.get("best_iteration"))


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a search; ``best_params`` + ``refit_rounds`` feed ``fit_final`` on the frame
    the search was given (``best_iteration`` is the round count at validation, on fewer rows)."""

    best_params: Mapping[str, Any]
    best_value: float
    best_iteration: int
    metric: str
    direction: str
    trials: tuple[TrialRecord, ...]
    study_name: str
    storage: str
    device: str
    n_completed: int
    n_pruned: int
    refit_rounds: int = 0  # 0 only when built by hand; run_search always sets it


class _Patience:
    """Stop the study once ``patience`` finished trials came after the best one."""

    def __init__(self, patience: int) -> None:
        self.patience = patience

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        finished = study.get_trials(deepcopy=False, states=FINISHED)
        best = [t for t in finished if t.state == TrialState.COMPLETE]
        if not best:
            return
        best_number = study.best_trial.number
        if sum(t.number > best_number for t in finished) >= self.patience:
            study.stop()


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    # Optuna logs one INFO line per trial; progress and on_trial are our channels.
    saved = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(saved)


def _pruner(config: SearchConfig, folds: bool) -> optuna.pruners.BasePruner:
    pruner = config.pruner
    if pruner == "auto":
        # Pruning compares trials at equal round counts, where a slow learning rate always looks
        # worse than a fast one that will overfit sooner; on the small frames that get folds this
        # bias, and the noise of judging a fold mean on early rounds, cost more than the trials
        # pruning saves (each trial is cheap there). Measured on the bundled regression and
        # multiclass sets; a large frame's holdout keeps the median pruner.
        pruner = "none" if folds else "median"
    if pruner == "median":
        # Warm-up: early rounds of a slow learning rate say little about where a trial ends.
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2 * config.report_every)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=config.report_every,
                                              max_resource=config.max_rounds, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _open_study(config: SearchConfig, direction: Literal["maximize", "minimize"], metric: str,
                folds: bool) -> tuple[optuna.Study, StudyStorage, int]:
    opened = open_storage(config.storage, config.studies_dir, config.study_name)
    # The sampler seed also depends on the trials already there: a resumed run must not replay
    # the random start-up points of the first run (same seed), and a second worker not the first's.
    probe = optuna.create_study(storage=opened.storage, study_name=config.study_name,
                                direction=direction, load_if_exists=True)
    n_existing = len(probe.get_trials(deepcopy=False))
    seed = int(np.random.SeedSequence([config.seed, config.worker, n_existing]).generate_state(1)[0])
    n_startup = max(3, min(10, config.n_trials // 3))
    with warnings.catch_warnings():
        # Optuna flags multivariate TPE "experimental"; it beats the independent one on LightGBM's
        # coupled knobs (learning rate with rounds, leaves with rows per leaf).
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup, multivariate=True)
    study = optuna.load_study(study_name=config.study_name, storage=opened.storage, sampler=sampler,
                              pruner=_pruner(config, folds))
    stored = study.user_attrs.get("metric")
    if stored is None:
        study.set_user_attr("metric", metric)
        study.set_user_attr("task", config.task)
    elif stored != metric or study.direction.name.lower() != direction:
        raise TrainingError(f"study {config.study_name!r} in {opened.description} optimises {stored!r}, "
                            f"not {metric!r}", hint="use another study_name for another metric")
    fail_dead_trials(study, opened.storage)
    return study, opened, n_existing


def _enqueue_starting_points(study: optuna.Study, space: Mapping[str, Any], config: SearchConfig,
                             n_existing: int) -> None:
    # Only the first worker of a new study, so that resumed runs and joining workers do not
    # queue the same points again; never more than the trial budget.
    if n_existing or config.worker:
        return
    for point in starting_points(space)[:config.n_trials]:
        study.enqueue_trial(point, skip_if_exists=True)


def run_search(frame: pl.DataFrame, *, features: Sequence[str], categorical: Sequence[str], label: str,
               time_column: str, config: SearchConfig, progress: Progress | None = None,
               on_trial: Callable[[TrialRecord], None] | None = None, positive: Any = None) -> SearchResult:
    """Search LightGBM parameters on ``frame`` with time-respecting validation; see the module doc.
    After each trial ``progress(finished, budget, "best <metric> <value>")`` gets the study's
    finished trials (every process's) against the trial budget, and ``on_trial`` the trial."""
    metric = resolve_metric(config.task, config.metric)
    device = choose_device(config.device).device
    data = prepare_validation(frame, features=features, categorical=categorical, label=label,
                              time_column=time_column, task=config.task, validation=config.validation,
                              validation_fraction=config.validation_fraction, n_folds=config.n_folds,
                              positive=positive)
    space = build_space(config.space)
    base = base_params(config.task, n_classes=data.schema.n_classes, seed=config.seed,
                       n_threads=config.n_threads, device=device, metric=metric.name)
    deadline = time.monotonic() + config.timeout_s if config.timeout_s is not None else None
    with _optuna_quiet():
        study, opened, n_existing = _open_study(config, metric.direction, metric.name, bool(data.folds))
        _enqueue_starting_points(study, space, config, n_existing)
    objective = Objective(data, space, base, metric.name, config.max_rounds, config.early_stopping_rounds,
                          config.report_every, deadline, opened.holding_reports)
    remaining = config.n_trials - len(study.get_trials(deepcopy=False, states=FINISHED))

    def record(study: optuna.Study, trial: FrozenTrial) -> None:
        if progress is not None:
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state in FINISHED for t in trials)
            best = (f"best {metric.name} {study.best_value:.5g}"
                    if any(t.state == TrialState.COMPLETE for t in trials) else "no completed trial yet")
            report_progress(progress, min(finished, config.n_trials), config.n_trials, best)
        if on_trial is not None:
            on_trial(TrialRecord.of(trial))

    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [
        MaxTrialsCallback(config.n_trials, states=FINISHED), record]
    if config.patience is not None:
        callbacks.append(_Patience(config.patience))
    if remaining > 0:
        with _optuna_quiet():
            # Optuna's clock starts here; the deadline the trials see started before the set-up.
            timeout = None if deadline is None else max(deadline - time.monotonic(), 1e-3)
            study.optimize(objective, n_trials=remaining, timeout=timeout, callbacks=callbacks)
    return _result(study, space, metric.name, metric.direction, opened.description, device,
                   data.refit_scale)


def _result(study: optuna.Study, space: Mapping[str, Any], metric: str, direction: str,
            storage: str, device: str, refit_scale: float) -> SearchResult:
    trials = study.get_trials(deepcopy=False)
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    if not completed:
        raise TrainingError(f"study {study.study_name!r} has no completed trial "
                            f"({sum(t.state == TrialState.PRUNED for t in trials)} pruned)",
                            hint="raise n_trials or timeout_s, or loosen the pruner")
    best = study.best_trial
    if best.value is None:  # a completed trial always has its value; say so rather than fail in float()
        raise TrainingError(f"study {study.study_name!r}: the best trial #{best.number} has no value",
                            hint="the study storage may be damaged; start a new study_name")
    best_iteration = int(best.user_attrs["best_iteration"])
    return SearchResult(
        best_params={**fixed_params(space), **best.params}, best_value=float(best.value),
        best_iteration=best_iteration, metric=metric, direction=direction,
        trials=tuple(TrialRecord.of(t) for t in trials), study_name=study.study_name,
        storage=storage, device=device, n_completed=len(completed),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        refit_rounds=max(1, math.ceil(best_iteration * refit_scale)))
