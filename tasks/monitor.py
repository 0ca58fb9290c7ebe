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

import numpy as np
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
from tasks.scoring import PREDICTIONS_GROUP
from tasks.training import predict
from tasks.workspace import Workspace
from training.model import TrainedModel

OBSERVATION_STEP = timedelta(days=7)


def performance_line(report: DriftReport) -> str:
    p = report.performance
    if not p or "auc_current" not in p:
        return "no labels have arrived for the champion's batch scores yet"
    return (f"AUC {p['auc_current']:.3f} on {int(p['labelled_rows'])} labelled scores "
            f"(holdout {p.get('auc_reference', float('nan')):.3f})")


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
    newest = ws.data_time(snapshots)
    start = newest - timedelta(days=window_days)
    points, at = [], newest
    while at > start:
        points.append(latest_features(snapshots, ws.contracts, as_of=at))
        at -= OBSERVATION_STEP
    return Window(start=start, end=newest, frame=pl.concat(points, how="vertical_relaxed"))


def labelled_scores(ws: Workspace, champion: ModelVersion) -> tuple[np.ndarray, np.ndarray] | None:
    """The champion's stored batch scores whose labels have arrived since: each score is matched
    with the entity's first label event at or after the time it scored for, within the horizon.
    None while no label has arrived for any score."""
    if PREDICTIONS_GROUP not in ws.store.groups():
        return None
    labels_contract = ws.contracts[ws.settings.label_group]
    keys = labels_contract.entity_keys
    scores = ws.store.read(PREDICTIONS_GROUP).filter(
        (pl.col("model") == champion.model) & (pl.col("model_version") == champion.version))
    labels = ws.store.read(ws.settings.label_group).select(
        *keys, pl.col(labels_contract.event_time).alias("label_time"), pl.col(labels_contract.label).alias("label"))
    if scores.is_empty() or labels.is_empty():
        return None
    horizon = timedelta(days=ws.settings.drift.label_horizon_days)
    matched = (scores.sort("event_time").join_asof(labels.sort("label_time"), left_on="event_time",
                                                   right_on="label_time", by=list(keys), strategy="forward",
                                                   check_sortedness=False)  # sorted by time, hence per group
               .filter(pl.col("label_time").is_not_null() & (pl.col("label_time") < pl.col("event_time") + horizon)))
    if matched.is_empty():
        return None
    return matched["label"].to_numpy().astype(float), matched["score"].to_numpy().astype(float)


@task(name="detect-drift", cache_policy=NO_CACHE)
def drift(ws: Workspace, champion: ModelVersion, window: Window) -> tuple[DriftReport, str]:
    profile = ReferenceProfile.from_json((champion.path / "reference_profile.json").read_bytes())
    predictions = predict(TrainedModel.load(champion.path), window.frame)
    d = ws.settings.drift
    labelled = labelled_scores(ws, champion)
    report = detect_drift(profile, window.frame, current_predictions=predictions,
                          psi_threshold=d.psi_threshold, share_threshold=d.share_threshold,
                          p_value=d.p_value, critical=d.critical_features, max_auc_drop=d.max_auc_drop,
                          labels=labelled[0] if labelled else None,
                          scored_predictions=labelled[1] if labelled else None,
                          reference_performance=champion.metadata.get("metrics"))
    html = ws.home.reports / f"drift-{champion.model}-v{champion.version}-{window.end:%Y%m%dT%H%M%S}.html"
    write_atomic(html, render_drift_html(report, profile, window.frame).encode())
    rows = "\n".join(f"| {f.name} | {f.psi:.3f} | {'**drifted**' if f.drifted else 'ok'} | {f.reason} |"
                     for f in report.features)
    create_markdown_artifact(key="drift-report", description=f"Drift of {champion.model} v{champion.version}",
                             markdown=f"# Drift: {'detected' if report.drifted else 'none'}\n\n{report.rule}\n\n"
                                      f"Performance on labelled batch scores: {performance_line(report)}\n\n"
                                      f"| feature | PSI | verdict | reason |\n|---|---|---|---|\n{rows}\n")
    ws.audit.append("drift.verdict", f"model:{champion.model}:v{champion.version}", {
        "drifted": report.drifted, "share_drifted": report.share_drifted,
        "performance": dict(report.performance) if report.performance else None,
        "drifted_features": list(report.drifted_features()), "window": window.key,
        "current_rows": report.current_rows, "report": html.name}, actor=ws.actor(flow_run_id()))
    return report, str(html)
