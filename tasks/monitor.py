"""Drift-monitoring tasks: assemble the current window, compare it with the champion's reference
profile, publish the report (HTML under reports/, a Prefect artifact) and audit the verdict.

The current window is sampled the way the reference was: the reference profile describes the
training rows (features as of weekly label times), so the window takes every entity's features
as of weekly observation points ending at the newest data in the store. Time here is data time
(the newest event time stored), not the wall clock, so replayed or late data is judged by when
it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from driftline.atomic import write_atomic
from features.drift import DriftReport, detect_drift
from features.drift_report import render_drift_html
from features.latest import latest_features
from features.profile import ReferenceProfile
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id
from tasks.training import predict
from tasks.workspace import Workspace
from training.model import TrainedModel

OBSERVATION_STEP = timedelta(days=7)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    frame: pl.DataFrame

    @property
    def key(self) -> str:
        return f"{self.start.date().isoformat()}..{self.end.date().isoformat()}"


@task(name="current-window", cache_policy=NO_CACHE)
def current_window(ws: Workspace, window_days: int) -> Window:
    snapshots = [ws.store.snapshot(g) for g in ws.settings.feature_groups]
    newest = ws.data_time()
    start = newest - timedelta(days=window_days)
    points, at = [], newest
    while at > start:
        points.append(latest_features(snapshots, ws.contracts, as_of=at))
        at -= OBSERVATION_STEP
    return Window(start=start, end=newest, frame=pl.concat(points, how="vertical_relaxed"))


@task(name="detect-drift", cache_policy=NO_CACHE)
def drift(ws: Workspace, champion: ModelVersion, window: Window) -> tuple[DriftReport, str]:
    profile = ReferenceProfile.from_json((champion.path / "reference_profile.json").read_bytes())
    predictions = predict(TrainedModel.load(champion.path), window.frame)
    d = ws.settings.drift
    report = detect_drift(profile, window.frame, current_predictions=predictions,
                          psi_threshold=d.psi_threshold, share_threshold=d.share_threshold,
                          p_value=d.p_value, critical=d.critical_features)
    html = ws.home.reports / f"drift-{champion.model}-v{champion.version}-{window.end:%Y%m%dT%H%M%S}.html"
    write_atomic(html, render_drift_html(report, profile, window.frame).encode())
    rows = "\n".join(f"| {f.name} | {f.psi:.3f} | {'**drifted**' if f.drifted else 'ok'} | {f.reason} |"
                     for f in report.features)
    create_markdown_artifact(key="drift-report", description=f"Drift of {champion.model} v{champion.version}",
                             markdown=f"# Drift: {'detected' if report.drifted else 'none'}\n\n{report.rule}\n\n"
                                      f"| feature | PSI | verdict | reason |\n|---|---|---|---|\n{rows}\n")
    ws.audit.append("drift.verdict", f"model:{champion.model}:v{champion.version}", {
        "drifted": report.drifted, "share_drifted": report.share_drifted,
        "drifted_features": list(report.drifted_features()), "window": window.key,
        "current_rows": report.current_rows, "report": html.name}, actor=ws.actor(flow_run_id()))
    return report, str(html)
