"""Drift-monitoring tasks: the ``monitor`` use case (:mod:`usecases.monitor`) wired to the workspace.

:func:`current_window` takes the rows of the model's feature groups that arrived in the window (:func:`served_window`
the rows the server answered as champion instead); :func:`drift` judges it
against the champion (report HTML, ``drift.verdict`` entry) and adds the Prefect artifact and the
flow run in the audit actor. Every decision is made in the use case; nothing here computes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from monitoring.drift import DriftPolicy
from monitoring.windows import Window
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id, run_logger
from tasks.workspace import Workspace
from usecases import monitor as use_case
from usecases import served_window as served_traffic
from usecases.served_window import ServedWindow
from usecases.monitor import MonitorResult


def verdict_line(result: MonitorResult) -> str:
    """The verdict and the rows it rests on, in one line (the run's log and its state message)."""
    report = result.drift
    what = (f"drift in {len(result.drifted_features)} feature(s) ({', '.join(result.drifted_features)})"
            if result.drifted_features else "drift" if result.drifted else "no drift")
    return (f"{result.model} v{result.version}: {what}; {report.current_rows} current rows against "
            f"{report.reference_rows} reference rows ({result.window})")


@task(name="current-window", cache_policy=NO_CACHE)
def current_window(ws: Workspace, window_days: int, *, since: datetime | None = None,
                   until: datetime | None = None) -> Window:
    return use_case.current_window(ws.store, ws.contracts, ws.settings.feature_groups, window_days,
                                   since=since, until=until)


@task(name="served-window", cache_policy=NO_CACHE)
def served_window(ws: Workspace, champion: ModelVersion, window_days: int, *, since: datetime | None = None,
                  until: datetime | None = None) -> ServedWindow:
    features = list(use_case.reference_of(champion).features)
    return served_traffic.served_window(ws.store, champion.model, features, window_days, since=since, until=until)


@task(name="detect-drift", cache_policy=NO_CACHE)
def drift(ws: Workspace, champion: ModelVersion, window: Window, served: ServedWindow | None = None) -> MonitorResult:
    result = use_case.monitor_champion(
        ws.store, ws.contracts[ws.settings.label_group], champion, window,
        policy=DriftPolicy.from_settings(ws.settings.drift),
        label_horizon=timedelta(days=ws.settings.drift.label_horizon_days), reports=ws.home.reports,
        audit=ws.audit, actor=ws.actor(flow_run_id()), label=ws.spec.label_column if ws.spec else None,
        stable_charts=ws.settings.drift.chart_stable_features,
        source="served" if served else "store", returned_scores=served.scores if served else None,
        pii=ws.report_pii(window.frame.columns))
    create_markdown_artifact(key="drift-report", description=f"Drift of {champion.model} v{champion.version}",
                             markdown=use_case.drift_markdown(result.drift, champion)
                             + f"\nCharts: `{result.report}`\n")
    run_logger().info("%s; report %s", verdict_line(result), result.report)
    return result
