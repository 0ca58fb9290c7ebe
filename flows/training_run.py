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

import dataclasses
from collections.abc import Mapping

from features.snapshot import GroupSnapshot
from flows.approval_wait import wait_for_approval
from features.training_set import TrainingSet
from registry.versions import ModelVersion
from flows.events import emit, model_resource
from flows.triggers import GATE_DECIDED, MODEL_PROMOTED, MODEL_REGISTERED, MODEL_RETRAIN_SKIPPED
from tasks.gate import gate, publish_gate_report
from tasks.registry import promote, register
from tasks.run_artifacts import publish_lineage, publish_trials
from tasks.runtime import flow_run_id, run_logger
from tasks.training import fit, search, snapshot_groups, spread_search, training_set
from tasks.workspace import Workspace
from training.split import time_holdout
from usecases import retrain as rt
from usecases import train as uc
from usecases.models import models_folder
from usecases.outcomes import RetrainSkipped, TrainOutcome
from usecases.registration import gate_figures
from usecases.trainable import check_trainable


def train_and_gate(ws: Workspace, *, reason: str) -> TrainOutcome:
    snapshots = snapshot_groups(ws)
    outcome = _train_on(ws, snapshots, training_set(ws, snapshots), reason=reason, unless_same_as=None)
    assert isinstance(outcome, TrainOutcome)  # without unless_same_as there is no skip
    return outcome


def retrain_if_new(ws: Workspace, *, reason: str) -> TrainOutcome | RetrainSkipped:
    """A retrain: train only on a training set with something new over the champion's (see
    :mod:`usecases.retrain`), and register nothing whose model bytes equal the champion's."""
    snapshots = snapshot_groups(ws)
    ts = training_set(ws, snapshots)
    name = ws.settings.model_name
    current = rt.current_champion(ws.registry, name)
    champion, recorded = current if current else (None, None)
    decision = rt.should_retrain(ts.fingerprint, rt.newest_label_time(ts.frame, ts.time_column), recorded)
    if not decision.train:
        return _skip(ws, ts, decision, reason)
    run_logger().info("retrain of %s: %s", name, decision.reason)
    outcome = _train_on(ws, snapshots, ts, reason=reason, unless_same_as=champion)
    if isinstance(outcome, rt.RetrainDecision):
        return _skip(ws, ts, outcome, reason)
    return outcome


def _skip(ws: Workspace, ts: TrainingSet, decision: rt.RetrainDecision, trigger: str) -> RetrainSkipped:
    name = ws.settings.model_name
    rt.record_skip(ws.audit, name, decision, fingerprint=ts.fingerprint, trigger=trigger,
                   newest_label=rt.newest_label_time(ts.frame, ts.time_column), actor=ws.actor(flow_run_id()))
    emit(MODEL_RETRAIN_SKIPPED, model_resource(name), {"model": name, "reason": decision.reason,
                                                          "champion_version": decision.champion_version})
    run_logger().info("retrain of %s skipped: %s", name, decision.reason)
    return RetrainSkipped(name, decision.reason, decision.champion_version, ts.fingerprint)


def _train_on(ws: Workspace, snapshots: Mapping[str, GroupSnapshot], ts: TrainingSet, *, reason: str,
              unless_same_as: ModelVersion | None) -> TrainOutcome | rt.RetrainDecision:
    """Search, fit, gate, register and promote; a decision not to register when ``unless_same_as``
    (the verified champion) holds the very model bytes the fit produced."""
    log = run_logger()
    s = ws.settings
    name = s.model_name
    task = ws.spec.task if ws.spec else ts.task  # the declared spec's task, else the label contract's
    # Data no model can learn from is refused in one line before a study is opened or anything written.
    check_trainable(ts, model=name, label_group=s.label_group, task=task,
                    holdout_fraction=s.training.holdout_fraction,
                    spec_file=str(models_folder(s) / f"{name}.toml"))
    train, holdout = time_holdout(ts.frame, ts.time_column, s.training.holdout_fraction)
    spread_search(ws, ts)
    result = search(ws, ts, train)
    measured = uc.measure_candidate(
        fit(ws, ts, train, result), task=task, train=train, holdout=holdout, ts=ts, result=result,
        registry=ws.registry, model=name, training=s.training, slice_columns=s.gate.slice_columns,
        quarantine_share=ws.quarantine_share(list(snapshots.values())), pii=ws.report_pii(s.gate.slice_columns))
    candidate, champion, files, evidence = (measured.candidate, measured.champion, measured.files,
                                            measured.evidence)
    if unless_same_as is not None and rt.same_model_bytes(files, unless_same_as.path):
        publish_trials(result, model=name, version=None)
        return rt.RetrainDecision(False, f"the fitted model is byte for byte champion v{unless_same_as.version}'s: "
                                         "not registered twice", unless_same_as.version)
    candidate_ref = uc.candidate_name(name, ts)
    report = gate(ws, evidence, candidate=candidate_ref, champion=champion.ref(name) if champion else None)
    # The plots drawn once: the run's artifact shows them, the version's signed pages embed them.
    figures = gate_figures(report, measured.plots)
    publish_gate_report(report, figures, candidate=candidate_ref)

    lineage = uc.lineage(ts, result, training_rows=train.height, holdout_rows=holdout.height,
                         candidate=candidate, champion=champion, report=report, reason=reason,
                         evidence=evidence, spec=ws.spec.to_dict() if ws.spec else None)
    version = register(ws, files=files, lineage=lineage, report=report, figures=figures)
    # The verdict as an event of its own: a rejected candidate shows in the event feed (and can
    # drive an automation) without anyone opening the gate report.
    emit(GATE_DECIDED, model_resource(name, version.version), {
        "model": name, "version": version.version, "verdict": report.verdict,
        "reasons": list(report.reasons()), "champion_version": champion.version if champion else None})
    emit(MODEL_REGISTERED, model_resource(name, version.version),
         {"model": name, "version": version.version, "status": version.status})
    # A spec that asks for a person (read from the version's SIGNED spec, not the file): the version
    # waits (local) or the run pauses for the decision (pool) before anything is promoted.
    need = ws.registry.approval_state(name, version.version).requirement if report.passed else None
    waited = wait_for_approval(ws, version, report, need) if need is not None and need.required else None
    approval = waited.decision if waited is not None else None
    promoted = report.passed and approval in (None, "approved")
    if promoted and (waited is None or waited.here):
        promote(ws, version, reason=reason)
    elif promoted:  # approved with `registry approve`, which promoted it unless told --no-promote
        promoted = ws.registry.alias(name, "champion") == version.version
    if promoted:
        emit(MODEL_PROMOTED, model_resource(name, version.version),
             {"model": name, "version": version.version, "previous": champion.version if champion else None})
    before = champion.version if champion else None
    publish_trials(result, model=name, version=version.version)
    publish_lineage(name, version.version, lineage, status=approval or version.status, champion_before=before,
                    champion_after=version.version if promoted else before, reasons=report.reasons())
    log.info("%s v%d: %s (%s)", name, version.version, report.verdict,
             "; ".join(report.reasons()) or "all checks passed")
    outcome = uc.outcome(name, version=version.version, status=version.status, report=report,
                         candidate=candidate, champion=champion, training_rows=train.height,
                         holdout_rows=holdout.height,
                         gate_report=ws.home.reports / f"gate-{name}-v{version.version}.html",
                         classes=measured.model.schema.classes if task == "binary" else ())
    return dataclasses.replace(outcome, promoted=promoted, approval=approval)
