"""The monitoring flow: the champion's reference profile against the current window.

Drift is a result: the flow completes either way, records the verdict, and when the data has
drifted emits ``driftline.drift.detected`` naming the model and the window, which the retrain
deployment's trigger (or, in local mode, the in-process bus) turns into a retraining run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow

from driftline.errors import NotFoundError
from flows.events import emit, resource
from flows.triggers import DRIFT_DETECTED
from monitoring.performance import performance_line
from tasks.audit import checkpoint
from tasks.monitor import current_window, drift
from tasks.recovery import reconcile_on_start
from tasks.workspace import Workspace


@dataclass(frozen=True)
class MonitorOutcome:
    model: str
    version: int
    drifted: bool
    drifted_features: tuple[str, ...]
    share_drifted: float
    window: str
    report: str
    performance: str


@flow(name="monitor", log_prints=True)
def monitor_flow(model: str | None = None, window_days: int | None = None,
                 home: str | None = None, overrides: dict[str, Any] | None = None) -> MonitorOutcome:
    """Compare the current window of the store with the champion's reference profile."""
    ws = Workspace.open(home, model_name=model, **(overrides or {}))
    reconcile_on_start(ws)
    name = ws.settings.model_name
    try:
        if ws.registry.alias(name, "champion") is None:
            raise NotFoundError(f"model {name!r} has no champion to monitor", hint="train one first")
        champion = ws.registry.load(name, "champion")
        window = current_window(ws, window_days or ws.settings.drift.window_days)
        outcome = drift(ws, champion, window)
        report, html = outcome.report, str(outcome.html)
        window_key = f"{name}:v{champion.version}:{window.key}"
        if report.drifted:
            emit(DRIFT_DETECTED, resource("model", name, version=str(champion.version)), {
                "model": name, "version": champion.version, "window_key": window_key,
                "drifted_features": list(report.drifted_features()), "share_drifted": report.share_drifted,
                "performance": dict(report.performance) if report.performance else None, "report": html})
        return MonitorOutcome(model=name, version=champion.version, drifted=report.drifted,
                              drifted_features=tuple(report.drifted_features()),
                              share_drifted=report.share_drifted, window=window_key, report=html,
                              performance=performance_line(report.performance))
    finally:
        checkpoint(ws)
