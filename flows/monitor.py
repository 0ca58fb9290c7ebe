"""The monitoring flow: the champion's reference profile against the current window.

Drift is a result: the flow completes either way, records the verdict (the ``monitor`` use case,
:mod:`usecases.monitor`, in tasks), and when the data has drifted emits
``driftline.drift.detected`` naming the model and the window, which the retrain deployment's
trigger (or, in local mode, the in-process bus) turns into a retraining run.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow
from prefect.states import Completed

from driftline.clock import parse_time
from driftline.errors import InputError, NotFoundError
from flows.events import emit, model_resource
from flows.triggers import DRIFT_DETECTED
from flows.catalog import LocalOnly
from tasks.audit import checkpoint
from tasks.monitor import current_window, drift, served_window, verdict_line
from tasks.recovery import reconcile_on_start
from tasks.workspace import Workspace
from usecases.monitor import MonitorResult



def emit_drift(result: MonitorResult) -> None:
    """``driftline.drift.detected`` for a drifted verdict; the window key makes retraining idempotent."""
    if not result.drifted:
        return
    report = result.drift
    emit(DRIFT_DETECTED, model_resource(result.model, result.version), {
        "model": result.model, "version": result.version, "window_key": result.window,
        "drifted_features": list(result.drifted_features), "share_drifted": result.share_drifted,
        "performance": dict(report.performance) if report.performance else None, "report": str(result.report)})


@flow(name="monitor", log_prints=True)
def monitor_flow(model: str | None = None, window_days: int | None = None, since: str | None = None,
                 until: str | None = None, source: Literal["store", "served"] = "store",
                 home: LocalOnly[str | None] = None,
                 overrides: dict[str, Any] | None = None) -> MonitorResult:
    """Compare the rows that arrived in ``[since, until)`` (ISO-8601 with an offset; by default the
    ``window_days`` that end at the data's time) with the champion's reference profile.

    Args:
        model: the declared model's name; the settings' model when empty.
        window_days: length of the window in days; the settings' drift.window_days when empty.
        since: window start, ISO 8601 with an offset; window_days before the end when empty.
        until: window end (exclusive), ISO 8601 with an offset; the data's newest time when empty.
        source: "store", the rows that arrived in the feature groups; "served", what the online
            server returned as champion (features, returned scores, labels matched to served rows).
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
    """
    ws = Workspace.for_model(home, model, overrides)
    reconcile_on_start(ws)
    name = ws.settings.model_name
    try:
        if ws.registry.alias(name, "champion") is None:
            raise NotFoundError(f"model {name!r} has no champion to monitor", hint="train one first")
        champion = ws.registry.load(name, "champion")
        days = window_days or ws.settings.drift.window_days
        start, end = (parse_time(since) if since else None), (parse_time(until) if until else None)
        if source not in ("store", "served"):
            raise InputError(f"unknown monitor source {source!r}", hint="use store or served")
        served = served_window(ws, champion, days, since=start, until=end) if source == "served" else None
        window = served.window if served else current_window(ws, days, since=start, until=end)
        result = drift(ws, champion, window, served)
        emit_drift(result)
        # The verdict as the run's state message: the run list says drift or not without a click.
        return Completed(message=verdict_line(result), data=result)  # type: ignore[return-value]
    finally:
        checkpoint(ws)
