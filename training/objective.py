"""One Optuna trial: fit LightGBM with the trial's parameters on time-respecting validation data.

:class:`ValidationData` is built once per search from the frame: either a time holdout (category
codes learnt from the training part only, as in production) or expanding-window folds run through
``lightgbm.cv``, whose metric is averaged over the folds. ``validation="auto"`` takes folds for
frames under :data:`AUTO_FOLDS_BELOW_ROWS` rows, where one small holdout makes a noisy objective
that the search overfits, and a holdout above. :class:`Objective` then fits each trial with early
stopping on the validation metric (its patience stretched for slow learning rates), reports that
metric to Optuna every ``report_every`` rounds and raises ``TrialPruned`` when the pruner says so.
Each report is one storage record (with no pruner to read them, a journal writes a trial's
reports together when it ends), so reporting every round would make a local search spend much of
its time in the storage, not in LightGBM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import polars as pl

from driftline.atomic import fault_point
from driftline.errors import TrainingError
from training.model import lgb_dataset
from training.schema import FeatureSchema, learn_categories
from training.space import suggest
from training.split import expanding_folds, time_holdout
from training.study_storage import mark_owner

VALID = "valid"
# Below this many rows a search validates on expanding folds when asked for "auto" (FLAML's
# cross-validation threshold is the same order); above it one holdout is stable and cheaper.
AUTO_FOLDS_BELOW_ROWS = 10_000
# The learning rate at which early_stopping_rounds applies as given; a rate ten times slower
# needs ten times more rounds to show the same progress, so its patience is ten times longer.
REFERENCE_LEARNING_RATE = 0.1


@dataclass(frozen=True)
class ValidationData:
    """Matrices of one search. Holdout: ``x``/``y`` train, ``x_valid``/``y_valid`` validate.
    Expanding: ``x``/``y`` are the whole frame and ``folds`` the (train rows, valid rows) pairs."""

    schema: FeatureSchema
    x: np.ndarray
    y: np.ndarray
    x_valid: np.ndarray | None = None
    y_valid: np.ndarray | None = None
    folds: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    n_rows: int = 0  # rows of the whole frame the search was given

    @property
    def refit_scale(self) -> float:
        """Rows of the whole frame over rows of the largest training part: a model refit on all
        rows needs about this many times the rounds its validation found best."""
        largest = len(self.y) if not self.folds else max(len(train) for train, _ in self.folds)
        return max(1.0, self.n_rows / largest) if largest else 1.0


def _check_classes(y: np.ndarray, task: str, where: str) -> None:
    if task != "regression" and len(np.unique(y)) < 2:
        raise TrainingError(f"the {where} holds one label class only",
                            hint="use more history, or a larger validation fraction")


def prepare_validation(frame: pl.DataFrame, *, features: Sequence[str], categorical: Sequence[str],
                       label: str, time_column: str, task: str, validation: str,
                       validation_fraction: float, n_folds: int, positive: Any = None) -> ValidationData:
    """Split ``frame`` in time and encode it once for all trials."""
    schema = FeatureSchema.fit(frame, features=features, categorical=categorical, label=label, task=task,
                               positive=positive)
    if validation == "auto":
        # too few distinct times for the folds: a holdout (which explains itself if it fails too)
        few_times = time_column not in frame.columns or frame.get_column(time_column).n_unique() <= n_folds
        validation = "holdout" if few_times or frame.height >= AUTO_FOLDS_BELOW_ROWS else "expanding"
    if validation == "holdout":
        train, valid = time_holdout(frame, time_column, validation_fraction)
        schema = dataclasses.replace(schema, categories=learn_categories(train, categorical))
        x, y = schema.matrix(train), schema.labels(train, label)
        x_valid, y_valid = schema.matrix(valid), schema.labels(valid, label)
        _check_classes(y, task, "training part")
        _check_classes(y_valid, task, "validation part")
        return ValidationData(schema, x, y, x_valid, y_valid, n_rows=frame.height)
    if validation == "expanding":
        folds = expanding_folds(frame, time_column, n_folds)
        y = schema.labels(frame, label)
        for fold in folds:
            _check_classes(y[fold.train], task, "training part of a fold")
        return ValidationData(schema, schema.matrix(frame), y,
                              folds=tuple((f.train, f.valid) for f in folds), n_rows=frame.height)
    raise TrainingError(f"unknown validation {validation!r}", hint="use 'holdout', 'expanding' or 'auto'")


class PruningCallback:
    """LightGBM callback: report the validation metric to the trial and prune when told. Once the
    search's wall ``deadline`` (``time.monotonic``) has passed it stops the fit as early stopping
    would, at the best round so far, so that one long trial cannot overrun the budget by its whole
    length and still counts as a complete trial with an honest (if unfinished) score."""

    def __init__(self, trial: optuna.Trial, metric: str, report_every: int,
                 deadline: float | None = None) -> None:
        self.trial = trial
        self.metric = metric
        self.report_every = report_every
        self.deadline = deadline
        # Asking a pruner that never prunes costs a storage read and a copy of the trial per report.
        self.prunes = not isinstance(trial.study.pruner, optuna.pruners.NopPruner)
        self._best: tuple[int, float, list[Any]] | None = None  # (iteration, value, evaluation results)

    def _value(self, env: lgb.callback.CallbackEnv) -> tuple[float, bool]:
        for result in env.evaluation_result_list or ():
            if result[0] == VALID and result[1] in (self.metric, f"{VALID} {self.metric}"):
                return float(result[2]), bool(result[3])
        raise TrainingError(f"LightGBM reported no validation {self.metric!r}",
                            hint="the metric name must be one LightGBM evaluates")

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        step = env.iteration + 1  # rounds done so far
        value, higher_is_better = self._value(env)
        if self._best is None or (value > self._best[1] if higher_is_better else value < self._best[1]):
            self._best = (env.iteration, value, list(env.evaluation_result_list or ()))
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise lgb.callback.EarlyStopException(self._best[0], self._best[2])
        if step % self.report_every:
            return
        self.trial.report(value, step)
        if self.prunes and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at round {step} with {self.metric}={value:.6g}")


@dataclass(frozen=True)
class Objective:
    """Optuna objective: the validation metric at the best early-stopped round."""

    data: ValidationData
    space: Mapping[str, Any]
    base: Mapping[str, Any]  # from space.base_params, metric included
    metric: str
    max_rounds: int
    early_stopping_rounds: int
    report_every: int
    deadline: float | None = None  # time.monotonic() at which the search's wall budget ends
    # The storage's way to write a trial's reports together when it ends (StudyStorage.holding_reports).
    holding_reports: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext

    def __call__(self, trial: optuna.Trial) -> float:
        mark_owner(trial)
        fault_point(f"training.trial.{trial.number}")  # crash tests kill the process mid-trial here
        params = {**suggest(trial, self.space), **self.base}
        pruning = PruningCallback(trial, self.metric, self.report_every, self.deadline)
        callbacks: list[Callable[[lgb.callback.CallbackEnv], None]] = [
            pruning, lgb.early_stopping(self.patience_for(params), first_metric_only=True, verbose=False)]
        try:
            # No pruner reads the reports while the trial runs: they may be written when it ends.
            with contextlib.nullcontext() if pruning.prunes else self.holding_reports():
                best_iteration, value = self._fit(params, callbacks)
        except lgb.basic.LightGBMError as exc:
            raise TrainingError(f"LightGBM failed in trial {trial.number} with {params}: {exc}",
                                hint="narrow the search space around valid LightGBM values") from exc
        trial.set_user_attr("best_iteration", best_iteration)
        return value

    def patience_for(self, params: Mapping[str, Any]) -> int:
        """Early-stopping rounds for ``params``: ``early_stopping_rounds`` at the reference learning
        rate or faster, proportionally more for slower rates."""
        rate = float(params.get("learning_rate", REFERENCE_LEARNING_RATE))
        stretch = REFERENCE_LEARNING_RATE / rate if rate > 0 else 1.0
        return max(self.early_stopping_rounds, math.ceil(self.early_stopping_rounds * stretch))

    def _fit(self, params: dict[str, Any], callbacks: list[Callable[[lgb.callback.CallbackEnv], None]]
             ) -> tuple[int, float]:
        data = self.data
        train = lgb_dataset(data.x, data.y, data.schema, params)
        if not data.folds:
            if data.x_valid is None or data.y_valid is None:
                raise TrainingError("a holdout search was given no validation part",
                                    hint="build the data with prepare_validation")
            valid = lgb_dataset(data.x_valid, data.y_valid, data.schema, params, reference=train)
            booster = lgb.train(params, train, num_boost_round=self.max_rounds, valid_sets=[valid],
                                valid_names=[VALID], callbacks=callbacks)
            return int(booster.best_iteration), float(booster.best_score[VALID][self.metric])
        # lightgbm.cv names the aggregate "valid <metric>-mean" and cuts it at the best round.
        history = lgb.cv(params, train, num_boost_round=self.max_rounds, folds=list(data.folds),
                         callbacks=callbacks, seed=int(params["seed"]))
        curve = history[f"{VALID} {self.metric}-mean"]
        if not isinstance(curve, list):  # the booster is only returned under return_cvbooster
            raise TrainingError(f"lightgbm.cv returned no {self.metric!r} curve",
                                hint="the metric name must be one LightGBM evaluates")
        return len(curve), float(curve[-1])
