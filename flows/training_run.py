"""One training run, the body of the ``train`` and ``retrain`` flows.

Pin the groups' Delta versions, build the point-in-time training set, hold out the latest label
times, search LightGBM hyperparameters with Optuna, refit, score the candidate and the current
champion on the same holdout, gate, register the signed version (accepted or rejected) and promote
it when the gate passes. Kept apart from ``flows/train.py`` because it imports LightGBM, Optuna and
scikit-learn (about 1.5 s): a flow-run process loads the flow module first, so the run shows as
RUNNING and a duplicate retrain event is skipped before those imports are paid.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from driftline.canonical import canonical_json
from flows.events import emit, resource
from flows.train import TrainOutcome
from flows.triggers import MODEL_PROMOTED, MODEL_REGISTERED
from governance.gates import Evidence
from monitoring.profile import build_profile
from registry.lineage import build_lineage
from tasks.gate import gate
from tasks.registry import promote, register
from tasks.runtime import run_logger
from tasks.training import fit, predict, search, snapshot_groups, spread_search, training_set
from tasks.workspace import Workspace
from training.metrics import evaluate
from training.model import TrainedModel
from training.split import time_holdout


def scoring_latency(model: TrainedModel, holdout, *, rows: int = 10_000, repeats: int = 3) -> float:
    """Milliseconds per 1,000 rows, best of ``repeats`` over a fixed-size batch, so that a small
    holdout's fixed per-call cost does not pass for per-row cost."""
    batch = holdout.sample(n=rows, with_replacement=True, seed=0)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        predict(model, batch)
        best = min(best, time.perf_counter() - started)
    return best * 1000 * 1000 / rows


def _champion_scores(ws: Workspace, holdout, label: str, task: str):
    """The current champion's metrics on the candidate's holdout (loaded verified), or Nones."""
    name = ws.settings.model_name
    if ws.registry.alias(name, "champion") is None:
        return None, None, None
    champion = ws.registry.load(name, "champion")
    scores = predict(TrainedModel.load(champion.path), holdout)
    return champion.version, evaluate(holdout[label].to_numpy(), scores, task), scores


def train_and_gate(ws: Workspace, *, reason: str) -> TrainOutcome:
    log = run_logger()
    s = ws.settings
    snapshots = snapshot_groups(ws)
    ts = training_set(ws, snapshots)
    train, holdout = time_holdout(ts.frame, ts.time_column, s.training.holdout_fraction)
    spread_search(ws, ts)
    result = search(ws, ts, train)
    model = fit(ws, ts, train, result)

    y = holdout[ts.label_column].to_numpy()
    scores = predict(model, holdout)
    latency_ms_per_1k = scoring_latency(model, holdout)
    metrics = evaluate(y, scores, ts.task)
    champion_version, champion_metrics, champion_scores = _champion_scores(ws, holdout, ts.label_column, ts.task)

    with tempfile.TemporaryDirectory() as tmp:
        saved = model.save(Path(tmp))
        files: dict[str, Path | bytes] = {p.name: p.read_bytes() for p in saved}
    profile = build_profile(train, numeric=[c for c in ts.feature_columns if c not in ts.categorical_columns],
                            categorical=ts.categorical_columns, predictions=predict(model, train))
    files["reference_profile.json"] = profile.to_json()
    files["trials.json"] = canonical_json([asdict(t) for t in result.trials])

    evidence = Evidence(
        candidate=metrics, champion=champion_metrics, y_true=y, candidate_scores=scores,
        champion_scores=champion_scores, training_rows=train.height,
        segments={c: holdout[c].cast(str).to_numpy() for c in s.gate.slice_columns} or None,
        quarantine_share=ws.quarantine_share(list(snapshots.values())), model_size_bytes=len(files["model.txt"]),
        latency_ms_per_1k=latency_ms_per_1k)
    champion_ref = f"{s.model_name}:v{champion_version}" if champion_version is not None else None
    report = gate(ws, evidence, candidate=f"{s.model_name} candidate ({ts.fingerprint[:12]})", champion=champion_ref)

    lineage = build_lineage(
        data_versions=ts.versions, training_set_sha256=ts.fingerprint, training_rows=train.height,
        holdout_rows=holdout.height, params=result.best_params, best_iteration=result.best_iteration,
        refit_rounds=result.refit_rounds, study=result.study_name, trials=len(result.trials), metrics=metrics,
        champion_metrics=champion_metrics, gate_report_sha256=report.digest, reason=reason)
    version = register(ws, files=files, lineage=lineage, report=report)
    emit(MODEL_REGISTERED, resource("model", s.model_name, version=str(version.version)),
         {"model": s.model_name, "version": version.version, "status": version.status})
    if report.passed:
        promote(ws, version, reason=reason)
        emit(MODEL_PROMOTED, resource("model", s.model_name, version=str(version.version)),
             {"model": s.model_name, "version": version.version, "previous": champion_version})
    log.info("%s v%d: %s (%s)", s.model_name, version.version, report.verdict,
             "; ".join(report.reasons()) or "all checks passed")
    return TrainOutcome(
        model=s.model_name, version=version.version, status=version.status, promoted=report.passed,
        metrics={k: float(v) for k, v in metrics.items()}, champion_version=champion_version,
        champion_metrics=champion_metrics, reasons=tuple(report.reasons()), training_rows=train.height,
        holdout_rows=holdout.height, gate_report=str(ws.home.reports / f"gate-{s.model_name}-v{version.version}.html"))
