"""One training run, the body of the ``train`` and ``retrain`` flows: wiring, no computation.

Pin the groups' Delta versions, build the point-in-time training set, hold out the latest label
times, search LightGBM hyperparameters with Optuna, refit (each a task, for retries and artifacts);
then measure the candidate and the current champion on the same holdout, gate, register the signed
version (accepted or rejected) and promote it when the gate passes, emitting the registry's events.
The measuring, the version's files, the evidence, the lineage and the outcome are the
train-and-gate use case's (:mod:`usecases.train`). Kept apart from ``flows/train.py`` because it
imports LightGBM, Optuna and scikit-learn (about 1.5 s): a flow-run process loads the flow module
first, so the run shows as RUNNING and a duplicate retrain event is skipped before those imports
are paid.
"""

from __future__ import annotations

from flows.events import emit, resource
from flows.triggers import MODEL_PROMOTED, MODEL_REGISTERED
from tasks.gate import gate
from tasks.registry import promote, register
from tasks.runtime import run_logger
from tasks.training import fit, search, snapshot_groups, spread_search, training_set
from tasks.workspace import Workspace
from training.split import time_holdout
from usecases import train as uc
from usecases.outcomes import TrainOutcome


def train_and_gate(ws: Workspace, *, reason: str) -> TrainOutcome:
    log = run_logger()
    s = ws.settings
    name = s.model_name
    snapshots = snapshot_groups(ws)
    ts = training_set(ws, snapshots)
    train, holdout = time_holdout(ts.frame, ts.time_column, s.training.holdout_fraction)
    spread_search(ws, ts)
    result = search(ws, ts, train)
    # the label group's contract's task (a model spec's task, once specs are merged)
    measured = uc.measure_candidate(
        fit(ws, ts, train, result), task=ts.task, train=train, holdout=holdout, ts=ts, result=result,
        registry=ws.registry, model=name, training=s.training, slice_columns=s.gate.slice_columns,
        quarantine_share=ws.quarantine_share(list(snapshots.values())))
    candidate, champion, files, evidence = (measured.candidate, measured.champion, measured.files,
                                            measured.evidence)
    report = gate(ws, evidence, candidate=uc.candidate_name(name, ts),
                  champion=champion.ref(name) if champion else None)

    lineage = uc.lineage(ts, result, training_rows=train.height, holdout_rows=holdout.height,
                         candidate=candidate, champion=champion, report=report, reason=reason,
                         evidence=evidence, spec=ws.spec.to_dict() if ws.spec else None)
    version = register(ws, files=files, lineage=lineage, report=report)
    emit(MODEL_REGISTERED, resource("model", name, version=str(version.version)),
         {"model": name, "version": version.version, "status": version.status})
    if report.passed:
        promote(ws, version, reason=reason)
        emit(MODEL_PROMOTED, resource("model", name, version=str(version.version)),
             {"model": name, "version": version.version, "previous": champion.version if champion else None})
    log.info("%s v%d: %s (%s)", name, version.version, report.verdict,
             "; ".join(report.reasons()) or "all checks passed")
    return uc.outcome(name, version=version.version, status=version.status, report=report, candidate=candidate,
                      champion=champion, training_rows=train.height, holdout_rows=holdout.height,
                      gate_report=ws.home.reports / f"gate-{name}-v{version.version}.html")
