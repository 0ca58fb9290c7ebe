"""The train-and-gate use case: what a candidate model is judged on, and what its version holds.

After the search and the final fit (run by the flow as tasks, for retries and artifacts), a
candidate is measured here: its metrics and scores on the time holdout, its scoring latency, the
current champion's metrics and scores on the same holdout, the files of its version (the model
saved and read back, byte for byte what will be signed; the reference profile; the trials), and
the gate's :class:`~governance.gates.Evidence`. Then the gate is decided, the lineage built and
the run's :class:`~usecases.outcomes.TrainOutcome` assembled. Every function is Prefect-free and
takes its collaborators (registry, settings, clock) as arguments, so each is tested on small frames.

Each takes the model's ``task``. Holdout labels are coded by the candidate's schema (0/1, class
codes 0..k-1 whatever the label's type, or floats), so a multiclass champion's probability columns
are aligned to the candidate's classes before the two are compared. A binary candidate gets its
decision threshold chosen on validation data (:func:`decision_threshold`), stored in its schema
and lineage; a regression candidate is held to the naive baseline of its training labels.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from driftline.canonical import canonical_json
from driftline.errors import InputError
from driftline.settings import GateSettings, TrainingSettings
from features.training_set import TrainingSet
from governance.evidence import DECISION_METRICS
from governance.gate_plots import PlotEvidence
from governance.gate_report import GateReport
from governance.report_pii import ReportPii
from governance.gates import AllOf, Evidence, NoWorseThanChampion, default_policy, evaluate_gate
from monitoring.profile import ReferenceProfile, build_profile
from registry import layout
from registry.lineage import build_lineage
from registry.versions import ModelRegistry
from training.metrics import evaluate, naive_baseline
from training.model import MODEL_FILE, TrainedModel
from training.search import SearchResult, TrialRecord
from training.threshold import validation_threshold
from usecases.outcomes import TrainOutcome
from usecases.retrain import lineage_label_time
from usecases.score import predict, row_scores

CHAMPION = "champion"


@dataclass(frozen=True, eq=False)
class HoldoutScores:
    """One model on the holdout: its scores aligned with ``y_true`` and the metrics of them."""

    y_true: np.ndarray
    scores: np.ndarray
    metrics: dict[str, float]


@dataclass(frozen=True, eq=False)
class ChampionScores:
    """The current champion (loaded verified) on the candidate's holdout."""

    version: int
    holdout: HoldoutScores

    def ref(self, model: str) -> str:
        return f"{model}:v{self.version}"


def scoring_latency(model: TrainedModel, holdout: pl.DataFrame, *, rows: int = 10_000, repeats: int = 3,
                    clock: Callable[[], float] = time.perf_counter) -> float:
    """Milliseconds per 1,000 rows, best of ``repeats`` over a fixed-size batch, so that a small
    holdout's fixed per-call cost does not pass for per-row cost."""
    if holdout.height == 0 or rows < 1 or repeats < 1:
        raise InputError(f"cannot time scoring on {holdout.height} holdout rows, {rows} rows x {repeats} repeats",
                         hint="time a model on a non-empty holdout, with at least one row and one repeat")
    batch = holdout.sample(n=rows, with_replacement=True, seed=0)
    best = float("inf")
    for _ in range(repeats):
        started = clock()
        predict(model, batch)
        best = min(best, clock() - started)
    return best * 1000 * 1000 / rows


def _check_task(model: TrainedModel, task: str, what: str) -> None:
    if model.task != task:
        raise InputError(f"{what} is a {model.task} model, the run trains a {task} one",
                         hint="a model that changes task is a new model: give it another name")


def _aligned(model: TrainedModel, scores: np.ndarray, classes: tuple[Any, ...]) -> np.ndarray:
    """A multiclass model's probability columns in the order of ``classes`` (the candidate's); a
    class the model never learnt gets probability 0, a class the candidate lacks is dropped."""
    if model.schema.classes == classes:
        return scores
    column = {c: i for i, c in enumerate(model.schema.classes)}
    return np.column_stack([scores[:, column[c]] if c in column else np.zeros(len(scores)) for c in classes])


def score_holdout(model: TrainedModel, holdout: pl.DataFrame, label: str, task: str, *,
                  classes: tuple[Any, ...] | None = None) -> HoldoutScores:
    """``model`` on the holdout: labels coded by its schema (or by ``classes``, the candidate's, when
    a champion is scored) and scores in ``task``'s shape, with the task's metrics."""
    _check_task(model, task, "the model scored")
    scores = predict(model, holdout)
    if task == "multiclass" and classes is not None:
        scores = _aligned(model, scores, classes)
        y = replace(model.schema, classes=classes).labels(holdout, label)
    elif task == "binary" and classes is not None and classes != model.schema.classes:
        # A champion whose class 1 is the candidate's class 0 (a positive class chosen otherwise):
        # P(candidate's class 1) is 1 - its score; labels as the candidate codes them.
        if tuple(reversed(model.schema.classes or (0, 1))) == (tuple(classes) or (0, 1)):
            scores = 1.0 - scores
        y = replace(model.schema, classes=classes).labels(holdout, label)
    else:
        y = model.schema.labels(holdout, label)
    return HoldoutScores(y, scores, {k: float(v) for k, v in evaluate(y, scores, task).items()})


def champion_scores(registry: ModelRegistry, model: str, holdout: pl.DataFrame, label: str,
                    task: str, *, classes: tuple[Any, ...] = ()) -> ChampionScores | None:
    """The current champion's scores on the candidate's holdout (loaded verified), labels coded
    as the candidate codes them (its ``classes``: multiclass, or a binary (negative, positive));
    None when the model has no champion yet (a first model)."""
    if registry.alias(model, CHAMPION) is None:
        return None
    champion = registry.load(model, CHAMPION)
    loaded = TrainedModel.load(champion.path)
    _check_task(loaded, task, f"champion {model}:v{champion.version}")
    return ChampionScores(champion.version,
                          score_holdout(loaded, holdout, label, task,
                                        classes=classes if task == "binary" else classes or None))


def decision_threshold(model: TrainedModel, train: pl.DataFrame, ts: TrainingSet, result: SearchResult,
                       settings: TrainingSettings, *, validation_fraction: float = 0.2) -> TrainedModel:
    """A binary ``model`` with the threshold chosen on validation data (the latest times of its
    training rows, scored by a model fit like it on the earlier ones) in its schema; other tasks'
    models as they are."""
    if model.task != "binary":
        return model
    threshold = validation_threshold(
        train, features=ts.feature_columns, categorical=ts.categorical_columns, label=ts.label_column,
        time_column=ts.time_column, params=result.best_params, num_boost_round=result.best_iteration,
        seed=settings.seed, n_threads=settings.n_threads, device=result.device, fraction=validation_fraction,
        positive=model.schema.classes[1] if model.schema.classes else None)  # the class 1 it was fit on
    return model.with_threshold(threshold)


def regression_baseline(model: TrainedModel, train: pl.DataFrame, label: str) -> float | None:
    """The naive baseline a regression model must beat (the training labels' mean); None otherwise."""
    if model.task != "regression":
        return None
    return naive_baseline(model.schema.labels(train, label), "mean")


def reference_profile(model: TrainedModel, train: pl.DataFrame, ts: TrainingSet) -> ReferenceProfile:
    """The drift monitor's reference: the training rows' features and the model's scores on them."""
    return build_profile(train, numeric=[c for c in ts.feature_columns if c not in ts.categorical_columns],
                         categorical=ts.categorical_columns, predictions=row_scores(model, predict(model, train)))


def version_files(model: TrainedModel, profile: ReferenceProfile,
                  trials: tuple[TrialRecord, ...]) -> dict[str, Path | bytes]:
    """The files of the version to register, by name. The model is saved and read back, so the
    bytes signed are the bytes :meth:`TrainedModel.save` writes (and ``load`` reads)."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = model.save(Path(tmp))
        files: dict[str, Path | bytes] = {p.name: p.read_bytes() for p in saved}
    files[layout.REFERENCE_PROFILE] = profile.to_json()
    files[layout.TRIALS] = canonical_json([asdict(t) for t in trials])
    return files


def build_evidence(candidate: HoldoutScores, champion: ChampionScores | None, *, holdout: pl.DataFrame,
                   training_rows: int, slice_columns: tuple[str, ...], quarantine_share: float,
                   files: Mapping[str, Path | bytes], latency_ms_per_1k: float, task: str = "binary",
                   threshold: float | None = None, baseline: float | None = None,
                   pii: ReportPii | None = None) -> Evidence:
    """What the gate sees: both models' holdout scores in ``task``'s shape, segments, the data and
    cost facts, a binary model's decision threshold and a regression model's naive baseline. A
    PII-tagged slice column's segments are named by ``pii`` (one name per value, so each segment
    keeps its rows): its values then never reach the check names, the gate report's JSON, pages,
    plots or artifacts."""
    model_file = files[MODEL_FILE]
    size = len(model_file) if isinstance(model_file, bytes) else model_file.stat().st_size
    return Evidence(
        candidate=candidate.metrics, champion=champion.holdout.metrics if champion else None,
        y_true=candidate.y_true, candidate_scores=candidate.scores,
        champion_scores=champion.holdout.scores if champion else None, training_rows=training_rows,
        segments={c: _segments(holdout[c], pii) for c in slice_columns} or None,
        quarantine_share=quarantine_share, model_size_bytes=size, latency_ms_per_1k=latency_ms_per_1k,
        task=task, threshold=threshold, baseline=baseline)


def _segments(column: pl.Series, pii: ReportPii | None) -> np.ndarray:
    if pii is None or not pii.tagged(column.name):
        return column.cast(str).to_numpy()
    return np.asarray(pii.segment_names(column.name, column.to_list()), dtype=str)


@dataclass(frozen=True, eq=False)
class MeasuredCandidate:
    """A candidate ready for the gate: the model as it will be saved (a binary one with its
    threshold), its and the champion's holdout scores, its version's files and the evidence."""

    model: TrainedModel
    candidate: HoldoutScores
    champion: ChampionScores | None
    files: dict[str, Path | bytes]
    evidence: Evidence
    plots: PlotEvidence | None = None


def plot_evidence(model: TrainedModel, evidence: Evidence) -> PlotEvidence:
    """The gate report's plot data: the gate's own ``evidence`` object (not a copy, not rescored)
    and the candidate's total gain per feature, with its class values for the axes."""
    gains = model.booster.feature_importance(importance_type="gain")
    importance = {name: float(g) for name, g in zip(model.schema.features, gains, strict=True)}
    return PlotEvidence(evidence, importance, tuple(model.schema.classes or ()))


def measure_candidate(fitted: TrainedModel, *, task: str, train: pl.DataFrame, holdout: pl.DataFrame,
                      ts: TrainingSet, result: SearchResult, registry: ModelRegistry, model: str,
                      training: TrainingSettings, slice_columns: tuple[str, ...],
                      quarantine_share: float, pii: ReportPii | None = None) -> MeasuredCandidate:
    """Everything between the final fit and the gate, per ``task``: the binary threshold chosen on
    validation data, both models on the same holdout (labels coded as the candidate codes them),
    latency, the version's files, the regression baseline from the training labels, the evidence."""
    _check_task(fitted, task, f"the candidate of {model}")
    candidate_model = decision_threshold(fitted, train, ts, result, training)
    candidate = score_holdout(candidate_model, holdout, ts.label_column, task)
    latency = scoring_latency(candidate_model, holdout)
    champion = champion_scores(registry, model, holdout, ts.label_column, task,
                               classes=candidate_model.schema.classes)
    files = version_files(candidate_model, reference_profile(candidate_model, train, ts), result.trials)
    evidence = build_evidence(
        candidate, champion, holdout=holdout, training_rows=train.height, slice_columns=slice_columns,
        quarantine_share=quarantine_share, files=files, latency_ms_per_1k=latency, task=task,
        threshold=candidate_model.schema.threshold,
        baseline=regression_baseline(candidate_model, train, ts.label_column), pii=pii)
    return MeasuredCandidate(candidate_model, candidate, champion, files, evidence,
                             plot_evidence(candidate_model, evidence))


def candidate_name(model: str, ts: TrainingSet) -> str:
    """How the gate report names a candidate before it has a version: by its training set."""
    return f"{model} candidate ({ts.fingerprint[:12]})"


# A spec's metric (a search objective name, aliases included) -> the holdout metric the gate compares
# with the champion. Objectives the holdout metrics lack (average_precision, huber, ...) keep the
# task's default comparison; the report's decision_metric says which one decided.
GATE_METRICS: Mapping[str, Mapping[str, str]] = {
    "binary": {"auc": "auc", "logloss": "logloss", "binary_logloss": "logloss"},
    "multiclass": {"logloss": "logloss", "multi_logloss": "logloss"},
    "regression": {"rmse": "rmse", "l2": "rmse", "mse": "rmse", "mae": "mae", "l1": "mae"},
}
HIGHER_IS_BETTER = frozenset({"auc"})


def gate_metric(task: str, metric: str | None) -> str:
    """The holdout metric the champion comparison of ``task`` decides on for a spec's ``metric``."""
    return GATE_METRICS.get(task, {}).get(metric or "", DECISION_METRICS[task])


def decide_gate(gate: GateSettings, evidence: Evidence, *, candidate: str, champion: str | None,
                metric: str | None = None) -> GateReport:
    """The evidence's task's default policy under the settings (champion checks only once there
    is a champion) run on the evidence; the report names the task and its decision metric. A
    spec's ``metric`` other than the task's default adds a no-worse-than-champion check on it."""
    policy = default_policy(evidence.task, gate, has_champion=champion is not None)
    decision = gate_metric(evidence.task, metric)
    if champion is not None and decision != DECISION_METRICS[evidence.task]:
        policy = AllOf(policy, NoWorseThanChampion(decision, higher_is_better=decision in HIGHER_IS_BETTER))
    return evaluate_gate(policy, evidence, candidate=candidate, champion=champion, decision_metric=decision)


def lineage(ts: TrainingSet, result: SearchResult, *, training_rows: int, holdout_rows: int,
            candidate: HoldoutScores, champion: ChampionScores | None, report: GateReport,
            reason: str, evidence: Evidence | None = None,
            spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The version's ``metadata.json`` lineage: data, search, metrics, the gate report's digest, the
    declared model spec (``ModelSpec.to_dict()``) and, given the ``evidence``, the decision: task,
    decision metric, threshold (binary), baseline (regression)."""
    out = build_lineage(
        data_versions=ts.versions, training_set_sha256=ts.fingerprint, training_rows=training_rows,
        holdout_rows=holdout_rows, params=result.best_params, best_iteration=result.best_iteration,
        refit_rounds=result.refit_rounds, study=result.study_name, trials=len(result.trials),
        metrics=candidate.metrics, champion_metrics=champion.holdout.metrics if champion else None,
        gate_report_sha256=report.digest, reason=reason, model_spec=spec, as_known=ts.as_known,
        newest_label_time=lineage_label_time(ts.frame, ts.time_column),
        oldest_label_time=lineage_label_time(ts.frame, ts.time_column, oldest=True))
    if evidence is not None:
        out["decision"] = {"task": evidence.task, "metric": report.decision_metric or DECISION_METRICS[evidence.task],
                           "threshold": evidence.threshold, "baseline": evidence.baseline}
    return out


def outcome(model: str, *, version: int, status: str, report: GateReport, candidate: HoldoutScores,
            champion: ChampionScores | None, training_rows: int, holdout_rows: int,
            gate_report: Path, classes: tuple[Any, ...] = ()) -> TrainOutcome:
    return TrainOutcome(
        model=model, version=version, status=status, promoted=report.passed, metrics=dict(candidate.metrics),
        champion_version=champion.version if champion else None,
        champion_metrics=dict(champion.holdout.metrics) if champion else None, reasons=tuple(report.reasons()),
        training_rows=training_rows, holdout_rows=holdout_rows, gate_report=str(gate_report),
        positive=str(classes[1]) if len(classes) == 2 else None)
