"""The monitoring flow: the champion's reference profile against the current window.

Drift is a result: the flow completes either way, records the verdict (the ``monitor`` use case,
:mod:`usecases.monitor`, in tasks), and when the data has drifted emits
``driftline.drift.detected`` naming the model and the window, which the retrain deployment's
trigger (or, in local mode, the in-process bus) turns into a retraining run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from driftline.clock import parse_time
from driftline.errors import NotFoundError
from flows.events import emit, resource
from flows.triggers import DRIFT_DETECTED
from tasks.audit import checkpoint
from tasks.monitor import current_window, drift
from tasks.recovery import reconcile_on_start
from tasks.workspace import Workspace
from usecases.monitor import MonitorResult



def emit_drift(result: MonitorResult) -> None:
    """``driftline.drift.detected`` for a drifted verdict; the window key makes retraining idempotent."""
    if not result.drifted:
        return
    report = result.drift
    emit(DRIFT_DETECTED, resource("model", result.model, version=str(result.version)), {
        "model": result.model, "version": result.version, "window_key": result.window,
        "drifted_features": list(result.drifted_features), "share_drifted": result.share_drifted,
        "performance": dict(report.performance) if report.performance else None, "report": str(result.report)})


@flow(name="monitor", log_prints=True)
def monitor_flow(model: str | None = None, window_days: int | None = None, since: str | None = None,
                 until: str | None = None, home: str | None = None,
                 overrides: dict[str, Any] | None = None) -> MonitorResult:
    """Compare the rows that arrived in ``[since, until)`` (ISO-8601 with an offset; by default the
    ``window_days`` that end at the data's time) with the champion's reference profile."""
    ws = Workspace.for_model(home, model, overrides)
    reconcile_on_start(ws)
    name = ws.settings.model_name
    try:
        if ws.registry.alias(name, "champion") is None:
            raise NotFoundError(f"model {name!r} has no champion to monitor", hint="train one first")
        champion = ws.registry.load(name, "champion")
        window = current_window(ws, window_days or ws.settings.drift.window_days,
                                since=parse_time(since) if since else None,
                                until=parse_time(until) if until else None)
        result = drift(ws, champion, window)
        emit_drift(result)
        return result
    finally:
        checkpoint(ws)
