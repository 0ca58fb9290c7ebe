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

from flows.idempotency import already_done, mark_done
from tasks.audit import checkpoint
from tasks.recovery import reconcile_on_start
from tasks.runtime import run_logger
from tasks.workspace import Workspace
from usecases.outcomes import RetrainSkipped, TrainOutcome


@flow(name="train", log_prints=True)
def train_flow(model: str | None = None, reason: str = "manual", home: str | None = None,
               overrides: dict[str, Any] | None = None) -> TrainOutcome:
    """Train, gate and register a new version of the model from the store's current data."""
    ws = Workspace.for_model(home, model, overrides)
    reconcile_on_start(ws)
    from flows.training_run import train_and_gate

    try:
        return train_and_gate(ws, reason=reason)
    finally:
        checkpoint(ws)


@flow(name="retrain", log_prints=True)
def retrain_flow(model: str | None = None, idempotency_key: str | None = None,
                 home: str | None = None,
                 overrides: dict[str, Any] | None = None) -> TrainOutcome | RetrainSkipped | None:
    """Retrain after drift (or on the weekly schedule). A repeated event with an idempotency key
    that already trained is acknowledged and skipped: duplicate events never train twice. A retrain
    with nothing new over the champion (same training set, no newer label, or the same model
    bytes) registers nothing and returns :class:`RetrainSkipped`, recorded in the audit trail."""
    ws = Workspace.for_model(home, model, overrides)
    if idempotency_key and already_done(ws.home, "retrain", idempotency_key):
        run_logger().info("retrain for %s already ran; skipping the duplicate event", idempotency_key)
        return None
    reconcile_on_start(ws)
    from flows.training_run import retrain_if_new

    try:
        outcome = retrain_if_new(ws, reason=f"drift: {idempotency_key}" if idempotency_key else "scheduled retrain")
    finally:
        checkpoint(ws)
    if idempotency_key:
        done = {"version": outcome.version} if isinstance(outcome, TrainOutcome) else {"skipped": outcome.reason}
        mark_done(ws.home, "retrain", idempotency_key, done)
    return outcome
