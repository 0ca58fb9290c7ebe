"""The training flows: ``train`` (on demand, weekly) and ``retrain`` (drift-triggered, idempotent).

Both run the same steps, :func:`flows.training_run.train_and_gate`, imported when a run gets to
them: this module stays light (Prefect, the workspace and :mod:`usecases.outcomes`, where the
typed :class:`TrainOutcome` lives), so a flow-run process loads it, marks the run RUNNING and skips
a duplicate event without importing LightGBM, Optuna and scikit-learn. ``training_run`` imports
nothing from here, so the two modules form no import cycle.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, State

from flows.idempotency import already_done, mark_done
from flows.catalog import LocalOnly
from tasks.audit import checkpoint
from tasks.recovery import reconcile_on_start
from tasks.runtime import run_logger
from tasks.workspace import Workspace
from usecases.outcomes import RetrainSkipped, TrainOutcome


def state_message(outcome: TrainOutcome | RetrainSkipped | None) -> str:
    """The run's outcome in one line, as the flow run's state message: the UI's run list shows it,
    so a rejected candidate and its reasons are read there without opening an artifact."""
    if outcome is None:
        return "duplicate event: this drift window already retrained"
    if isinstance(outcome, RetrainSkipped):
        return f"{outcome.model}: retrain skipped: {outcome.reason}"
    against = f" against champion v{outcome.champion_version}" if outcome.champion_version else ""
    if outcome.promoted:
        return f"{outcome.model} v{outcome.version}: promoted{against}"
    if outcome.approval == "pending":
        return (f"{outcome.model} v{outcome.version} waits for approval: python -m flows registry approve "
                f"{outcome.model} {outcome.version} --reason ...")
    if outcome.approval == "approved":  # approved with `registry approve --no-promote`
        return f"{outcome.model} v{outcome.version}: passed the gate{against}, approved, not promoted"
    if outcome.approval == "rejected":
        return f"{outcome.model} v{outcome.version}: passed the gate{against}, rejected by its approver"
    return f"{outcome.model} v{outcome.version}: rejected{against}: " + "; ".join(outcome.reasons)


def finished(outcome: TrainOutcome | RetrainSkipped | None) -> State[Any]:
    """A Completed state carrying ``outcome`` (callers of the flow still get the outcome itself)
    and :func:`state_message`. A rejection is a result, not a failure: the run completes."""
    return Completed(message=state_message(outcome), data=outcome)


@flow(name="train", log_prints=True)
def train_flow(model: str | None = None, reason: str = "manual", home: LocalOnly[str | None] = None,
               overrides: dict[str, Any] | None = None) -> TrainOutcome:
    """Train, gate and register a new version of the model from the store's current data.

    Args:
        model: the declared model's name; the settings' model when empty.
        reason: why this version is trained, recorded in its lineage and the audit trail.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
    """
    ws = Workspace.for_model(home, model, overrides)
    reconcile_on_start(ws)
    from flows.training_run import train_and_gate

    try:
        outcome = train_and_gate(ws, reason=reason)
    finally:
        checkpoint(ws)
    return finished(outcome)  # type: ignore[return-value]  # Prefect hands callers the state's data


@flow(name="retrain", log_prints=True)
def retrain_flow(model: str | None = None, idempotency_key: str | None = None,
                 home: LocalOnly[str | None] = None,
                 overrides: dict[str, Any] | None = None) -> TrainOutcome | RetrainSkipped | None:
    """Retrain after drift (or on the weekly schedule). A repeated event with an idempotency key
    that already trained is acknowledged and skipped: duplicate events never train twice. A retrain
    with nothing new over the champion (same training set, no newer label, or the same model
    bytes) registers nothing and returns :class:`RetrainSkipped`, recorded in the audit trail.

    Args:
        model: the declared model's name; the settings' model when empty.
        idempotency_key: the drift window that asked for this retrain; a key already trained is skipped.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
    """
    ws = Workspace.for_model(home, model, overrides)
    if idempotency_key and already_done(ws.home, "retrain", idempotency_key):
        run_logger().info("retrain for %s already ran; skipping the duplicate event", idempotency_key)
        return finished(None)  # type: ignore[return-value]
    reconcile_on_start(ws)
    from flows.training_run import retrain_if_new

    try:
        outcome = retrain_if_new(ws, reason=f"drift: {idempotency_key}" if idempotency_key else "scheduled retrain")
    finally:
        checkpoint(ws)
    if idempotency_key:
        done = {"version": outcome.version} if isinstance(outcome, TrainOutcome) else {"skipped": outcome.reason}
        mark_done(ws.home, "retrain", idempotency_key, done)
    return finished(outcome)  # type: ignore[return-value]
