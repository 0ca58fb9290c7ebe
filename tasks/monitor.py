"""Drift-monitoring tasks: wiring between the workspace and the pure :mod:`monitoring` package.

:func:`current_window` reads the feature groups' snapshots and samples the window
(:mod:`monitoring.windows`); :func:`drift` loads the champion's reference profile, scores the
window, matches stored batch scores with the labels that arrived since (:mod:`monitoring.labels`),
runs :func:`monitoring.drift.detect_drift` under the settings' :class:`DriftPolicy`, then publishes
the report (HTML under reports/, a Prefect artifact) and audits the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from driftline.atomic import write_atomic
from features.latest import latest_features
from monitoring.drift import DriftPolicy, DriftReport, detect_drift
from monitoring.drift_report import render_drift_html
from monitoring.labels import LabelledScores, match_labels
from monitoring.performance import performance_line
from monitoring.profile import ReferenceProfile
from monitoring.windows import Window, sample_window
from registry.layout import VersionFiles
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id
from tasks.scoring import PREDICTIONS_GROUP
from tasks.training import predict
from tasks.workspace import Workspace
from training.model import TrainedModel


@dataclass(frozen=True)
class DriftOutcome:
    """What the drift task hands the flow: the verdict and where its HTML report was written."""

    report: DriftReport
    html: Path


@task(name="current-window", cache_policy=NO_CACHE)
def current_window(ws: Workspace, window_days: int) -> Window:
    snapshots = [ws.store.snapshot(g) for g in ws.settings.feature_groups]
    return sample_window(lambda at: latest_features(snapshots, ws.contracts, as_of=at),
                         ws.data_time(snapshots), window_days)


def labelled_scores(ws: Workspace, champion: ModelVersion) -> LabelledScores | None:
    """The champion's stored batch scores whose labels have arrived since; None while none has."""
    if PREDICTIONS_GROUP not in ws.store.groups():
        return None
    contract = ws.contracts[ws.settings.label_group]
    scores = ws.store.read(PREDICTIONS_GROUP).filter(
        (pl.col("model") == champion.model) & (pl.col("model_version") == champion.version))
    labels = ws.store.read(ws.settings.label_group).select(
        *contract.entity_keys, pl.col(contract.event_time).alias("label_time"), pl.col(contract.label).alias("label"))
    return match_labels(scores, labels, keys=contract.entity_keys,
                        horizon=timedelta(days=ws.settings.drift.label_horizon_days))


@task(name="detect-drift", cache_policy=NO_CACHE)
def drift(ws: Workspace, champion: ModelVersion, window: Window) -> DriftOutcome:
    profile = ReferenceProfile.from_json(VersionFiles(champion.path).reference_profile.read_bytes())
    predictions = predict(TrainedModel.load(champion.path), window.frame)
    report = detect_drift(profile, window.frame, DriftPolicy.from_settings(ws.settings.drift),
                          current_predictions=predictions, labelled=labelled_scores(ws, champion),
                          reference_performance=champion.metadata.get("metrics"))
    html = ws.home.reports / f"drift-{champion.model}-v{champion.version}-{window.end:%Y%m%dT%H%M%S}.html"
    write_atomic(html, render_drift_html(report, profile, window.frame).encode())
    rows = "\n".join(f"| {f.name} | {f.psi:.3f} | {'**drifted**' if f.drifted else 'ok'} | {f.reason} |"
                     for f in report.features)
    create_markdown_artifact(key="drift-report", description=f"Drift of {champion.model} v{champion.version}",
                             markdown=f"# Drift: {'detected' if report.drifted else 'none'}\n\n{report.rule}\n\n"
                                      f"Performance on labelled batch scores: {performance_line(report.performance)}\n\n"
                                      f"| feature | PSI | verdict | reason |\n|---|---|---|---|\n{rows}\n")
    ws.audit.append("drift.verdict", f"model:{champion.model}:v{champion.version}", {
        "drifted": report.drifted, "share_drifted": report.share_drifted,
        "performance": dict(report.performance) if report.performance else None,
        "drifted_features": list(report.drifted_features()), "window": window.key,
        "current_rows": report.current_rows, "report": html.name}, actor=ws.actor(flow_run_id()))
    return DriftOutcome(report, html)
