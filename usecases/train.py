"""The train-and-gate use case: what a candidate model is judged on, and what its version holds.

After the search and the final fit (run by the flow as tasks, for retries and artifacts), a
candidate is measured here: its metrics and scores on the time holdout, its scoring latency, the
current champion's metrics and scores on the same holdout, the files of its version (the model
saved and read back, byte for byte what will be signed; the reference profile; the trials), and
the gate's :class:`~governance.gates.Evidence`. Then the gate is decided, the lineage built and
the run's :class:`~usecases.outcomes.TrainOutcome` assembled. Every function is Prefect-free and
takes its collaborators (registry, settings, clock) as arguments, so each is tested on small frames.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from driftline.canonical import canonical_json
from driftline.errors import InputError
from driftline.settings import GateSettings
from features.training_set import TrainingSet
from governance.gate_report import GateReport
from governance.gates import Evidence, default_policy, evaluate_gate
from monitoring.profile import ReferenceProfile, build_profile
from registry import layout
from registry.lineage import build_lineage
from registry.versions import ModelRegistry
from training.metrics import evaluate
from training.model import MODEL_FILE, TrainedModel
from training.search import SearchResult, TrialRecord
from usecases.outcomes import TrainOutcome
from usecases.retrain import lineage_label_time
from usecases.score import predict

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


def score_holdout(model: TrainedModel, holdout: pl.DataFrame, label: str, task: str) -> HoldoutScores:
    y = holdout[label].to_numpy()
    scores = predict(model, holdout)
    return HoldoutScores(y, scores, {k: float(v) for k, v in evaluate(y, scores, task).items()})


def champion_scores(registry: ModelRegistry, model: str, holdout: pl.DataFrame, label: str,
                    task: str) -> ChampionScores | None:
    """The current champion's scores on the candidate's holdout (loaded verified); None when the
    model has no champion yet (a first model)."""
    if registry.alias(model, CHAMPION) is None:
        return None
    champion = registry.load(model, CHAMPION)
    return ChampionScores(champion.version, score_holdout(TrainedModel.load(champion.path), holdout, label, task))


def reference_profile(model: TrainedModel, train: pl.DataFrame, ts: TrainingSet) -> ReferenceProfile:
    """The drift monitor's reference: the training rows' features and the model's scores on them."""
    return build_profile(train, numeric=[c for c in ts.feature_columns if c not in ts.categorical_columns],
                         categorical=ts.categorical_columns, predictions=predict(model, train))


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
                   files: Mapping[str, Path | bytes], latency_ms_per_1k: float) -> Evidence:
    """What the gate sees: both models' holdout scores, segments, and the data and cost facts."""
    model_file = files[MODEL_FILE]
    size = len(model_file) if isinstance(model_file, bytes) else model_file.stat().st_size
    return Evidence(
        candidate=candidate.metrics, champion=champion.holdout.metrics if champion else None,
        y_true=candidate.y_true, candidate_scores=candidate.scores,
        champion_scores=champion.holdout.scores if champion else None, training_rows=training_rows,
        segments={c: holdout[c].cast(str).to_numpy() for c in slice_columns} or None,
        quarantine_share=quarantine_share, model_size_bytes=size, latency_ms_per_1k=latency_ms_per_1k)


def candidate_name(model: str, ts: TrainingSet) -> str:
    """How the gate report names a candidate before it has a version: by its training set."""
    return f"{model} candidate ({ts.fingerprint[:12]})"


def decide_gate(gate: GateSettings, evidence: Evidence, *, candidate: str, champion: str | None) -> GateReport:
    """The settings' policy (champion checks only once there is a champion) run on the evidence."""
    policy = default_policy(gate, has_champion=champion is not None)
    return evaluate_gate(policy, evidence, candidate=candidate, champion=champion)


def lineage(ts: TrainingSet, result: SearchResult, *, training_rows: int, holdout_rows: int,
            candidate: HoldoutScores, champion: ChampionScores | None, report: GateReport,
            reason: str) -> dict[str, Any]:
    """The version's ``metadata.json`` lineage: data, search, metrics and the gate report's digest."""
    return build_lineage(
        data_versions=ts.versions, training_set_sha256=ts.fingerprint, training_rows=training_rows,
        holdout_rows=holdout_rows, params=result.best_params, best_iteration=result.best_iteration,
        refit_rounds=result.refit_rounds, study=result.study_name, trials=len(result.trials),
        metrics=candidate.metrics, champion_metrics=champion.holdout.metrics if champion else None,
        gate_report_sha256=report.digest, reason=reason, as_known=ts.as_known,
        newest_label_time=lineage_label_time(ts.frame, ts.time_column))


def outcome(model: str, *, version: int, status: str, report: GateReport, candidate: HoldoutScores,
            champion: ChampionScores | None, training_rows: int, holdout_rows: int,
            gate_report: Path) -> TrainOutcome:
    return TrainOutcome(
        model=model, version=version, status=status, promoted=report.passed, metrics=dict(candidate.metrics),
        champion_version=champion.version if champion else None,
        champion_metrics=dict(champion.holdout.metrics) if champion else None, reasons=tuple(report.reasons()),
        training_rows=training_rows, holdout_rows=holdout_rows, gate_report=str(gate_report))
