"""The monitor use case: the champion's reference profile against the current window of the store.

:func:`current_window` takes the rows that arrived in ``[since, until)`` (by default the days that
end at the data's time), joined per entity as the training set joins them (:mod:`monitoring.windows`,
:mod:`features.arrivals`); :func:`labelled_scores` matches the champion's stored
batch scores with the labels that arrived since (:mod:`monitoring.labels`); :func:`monitor_champion`
runs :func:`monitoring.drift.detect_drift` under a :class:`DriftPolicy`, writes the HTML report
under ``reports/``, audits the ``drift.verdict`` and returns a typed :class:`MonitorResult`. The
window may instead be served traffic (``source="served"``, :mod:`usecases.served_window`).
Drift is a result, not an exception. The tasks add the Prefect artifact (:func:`drift_markdown`
is its text); the flow emits ``driftline.drift.detected`` from the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from driftline.atomic import write_atomic
from driftline.clock import format_time, utc_now
from driftline.errors import AuditChainError, ContractError, InputError, NotFoundError
from features.contracts import FeatureGroupContract
from features.arrivals import arrived_rows
from features.predictions import FEATURE_TIME, MODEL, MODEL_VERSION, PREDICTED_CLASS, PREDICTIONS_GROUP
from features.snapshot_queries import newest_event_time
from features.store import FeatureStore
from governance.actor import Actor
from governance.audit import AuditLog
from monitoring.drift import DriftPolicy, DriftReport, detect_drift
from monitoring.drift_plots import DriftPoint
from governance.report_pii import ReportPii
from monitoring.drift_report import DriftHeader, render_drift_html
from monitoring.labels import LabelledScores, match_labels
from monitoring.performance import performance_line
from monitoring.profile import ReferenceProfile
from monitoring.windows import Window, arrived_window, window_bounds
from registry.layout import VersionFiles
from registry.versions import ModelVersion
from training.model import TrainedModel
from usecases.score import predict, row_scores
from usecases.served_window import SOURCES, served_scores



@dataclass(frozen=True)
class MonitorResult:
    """One monitoring run of a model's champion.

    ``window`` is ``<model>:v<version>:<window key>``, the idempotency key of the retrain that a
    drift verdict triggers; ``report`` is the HTML file written; ``performance`` the one-line
    summary of the labelled batch scores; ``drift`` the whole verdict.
    """

    model: str
    version: int
    drifted: bool
    drifted_features: tuple[str, ...]
    share_drifted: float
    window: str
    report: Path
    performance: str
    drift: DriftReport = field(repr=False)  # `python -m flows run monitor` prints the result: keep it short


def current_window(store: FeatureStore, contracts: Mapping[str, FeatureGroupContract],
                   feature_groups: Sequence[str], window_days: int, *, since: datetime | None = None,
                   until: datetime | None = None) -> Window:
    """The rows of ``feature_groups`` that arrived in ``[since, until)``, joined per entity as the
    training set joins them; without bounds, the ``window_days`` that end at the data's newest event
    time (not the wall clock: replayed or late data is judged by when it happened)."""
    snapshots = [store.snapshot(g) for g in feature_groups]
    newest = newest_event_time(snapshots, contracts) if since is None or until is None else until
    start, end = window_bounds(newest, window_days, since=since, until=until)
    return arrived_window(lambda a, b: arrived_rows(snapshots, contracts, since=a, until=b), start, end)


def labelled_scores(store: FeatureStore, label_contract: FeatureGroupContract, champion: ModelVersion, *,
                    horizon: timedelta, label: str | None = None, classes: tuple[Any, ...] = (),
                    source: str = "store", task: str = "binary") -> LabelledScores | None:
    """The champion's stored batch scores whose labels have arrived within ``horizon``; None while
    none has (or nothing was scored yet); :class:`ContractError` for a group that holds no label.
    ``label`` is the model's label column (its spec's), by default the contract's; ``classes`` the
    champion schema's binary (negative, positive), by which labels become 0/1 as in training (a value
    it never learnt is left unknown, NaN, rather than read as either class). ``task`` is the
    champion's: a regression model's labels and predicted values are matched as numbers; a
    multiclass model's labels and stored ``predicted_class`` both become codes of ``classes`` (its
    schema's), so that performance is its accuracy. ``source="served"``
    matches the rows the server returned instead (:func:`usecases.served_window.served_scores`),
    by the same rule, from the time each request was received."""
    c = label_contract
    label = label or c.label
    if label is None:  # a misconfigured label_group: say so rather than crash inside polars
        raise ContractError(f"group {c.name!r} is not a labels group (no label in its contract)",
                            hint="set label_group to the group whose contract names a label and a task")
    if source not in SOURCES:
        raise InputError(f"unknown monitor source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
    if c.name not in store.groups():
        return None
    if source == "served":
        served = served_scores(store, champion.model, champion.version, c.entity_keys)
        if served is None:
            return None
        scores = served
    elif PREDICTIONS_GROUP not in store.groups():
        return None
    else:
        scores = store.read(PREDICTIONS_GROUP).filter(
            (pl.col(MODEL) == champion.model) & (pl.col(MODEL_VERSION) == champion.version))
    if FEATURE_TIME in scores.columns:  # a score answers for the features it was made on, not the batch time
        scores = scores.with_columns(pl.coalesce(FEATURE_TIME, "event_time").alias("event_time"))
    if task == "multiclass":
        # The batch holds the predicted class as text; judged by its code, as the labels are.
        predicted = (pl.col(PREDICTED_CLASS).replace_strict([str(v) for v in classes], list(range(len(classes))),
                                                             default=None, return_dtype=pl.Float64)
                     if PREDICTED_CLASS in scores.columns else pl.lit(None, dtype=pl.Float64))
        scores = scores.with_columns(predicted.alias("score"))
    return match_labels(scores, label_events(store, c, label, classes), keys=c.entity_keys, horizon=horizon,
                        task=task)


def label_events(store: FeatureStore, label_contract: FeatureGroupContract, label: str,
                 classes: tuple[Any, ...] = ()) -> pl.DataFrame:
    """The labels group as label matching takes it: ``*keys``, ``label_time``, ``label`` (a label
    mapped to its code by ``classes``: 0/1 of a binary model's (negative, positive), 0..k-1 of a
    multiclass model's classes; a value the model never learnt left unknown)."""
    c = label_contract
    labels = store.read(c.name).select(*c.entity_keys, pl.col(c.event_time).alias("label_time"),
                                       pl.col(label).alias("label"))
    if classes:
        labels = labels.with_columns(pl.col("label").replace_strict(
            list(classes), [float(i) for i in range(len(classes))], default=None, return_dtype=pl.Float64))
    return labels


def window_labels(store: FeatureStore, label_contract: FeatureGroupContract, window: Window, *,
                  label: str | None = None) -> np.ndarray | None:
    """The labels whose event time falls in the window (a regression target's current distribution);
    None when the labels group holds none yet. ``label``: the model's label column, else the contract's."""
    c = label_contract
    label = label or c.label
    if label is None or c.name not in store.groups():
        return None
    time = pl.col(c.event_time)
    rows = store.read(c.name).filter((time >= window.start) & (time < window.end))
    return rows[label].cast(pl.Float64).to_numpy() if rows.height else None


def reference_of(champion: ModelVersion) -> ReferenceProfile:
    """The champion's reference profile, the file signed with the version."""
    path = VersionFiles(champion.path).reference_profile
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{champion.model} v{champion.version} has no reference profile: {path} is missing; "
                            "the monitor compares the window with it",
                            hint="train and register a version with `python -m flows train` (it saves the "
                                 "profile), then promote it") from None
    return ReferenceProfile.from_json(data)


def report_path(reports: Path, champion: ModelVersion, window: Window, source: str = "store") -> Path:
    """Where the drift report of ``champion`` over ``window`` is written: one file per model version,
    source and window end, so a rerun over the same data replaces its own report and no other."""
    served = "-served" if source == "served" else ""
    return reports / f"drift-{champion.model}-v{champion.version}{served}-{window.end:%Y%m%dT%H%M%S}.html"


def drift_markdown(report: DriftReport, champion: ModelVersion) -> str:
    """The verdict as a Markdown table (the flow run's artifact)."""
    rows = "\n".join(f"| {f.name} | {f.psi:.3f} | {'**drifted**' if f.drifted else 'ok'} | {f.reason} |"
                     for f in report.features)
    return (f"# Drift: {'detected' if report.drifted else 'none'}\n\n{report.rule}\n\n"
            f"Performance on labelled batch scores: {performance_line(report.performance)}\n\n"
            f"| feature | PSI | verdict | reason |\n|---|---|---|---|\n{rows}\n")


def verdict_lines(result: MonitorResult) -> list[str]:
    """What ``python -m flows monitor`` prints: the verdict, plainly "no drift" when there is none,
    then every feature's (and the predictions') verdict and statistics, and the performance."""
    verdict = f"DRIFT in {', '.join(result.drifted_features) or 'the predictions or performance'}" \
        if result.drifted else "no drift"
    report = result.drift
    lines = [f"{result.model} v{result.version} over {result.window.rsplit(':', 1)[-1]}: {verdict} "
             f"({sum(f.drifted for f in report.features)} of {len(report.features)} features drifted, "
             f"{report.current_rows} rows in the window against {report.reference_rows} training rows); "
             f"report {result.report}"]
    test = {"numeric": "KS D", "prediction": "KS D", "categorical": "chi-square"}
    for f in (*report.features, *((report.prediction,) if report.prediction else ())):
        statistic = "n/a" if f.statistic is None else f"{f.statistic:.4g}"
        lines.append(f"  {f.name}: {'DRIFTED' if f.drifted else 'no drift'} ({f.kind}; {test[f.kind]} "
                     f"{statistic}, p_adj {f.p_adjusted:.2g}, PSI {f.psi:.3f}, JS {f.jensen_shannon:.3f})")
    lines.append(f"  performance: {result.performance}")
    return lines


HISTORY_RUNS = 50  # past runs charted in a drift report: enough to see a trend, a bounded page


def drift_history(audit: AuditLog, model: str, *, limit: int = HISTORY_RUNS,
                  source: str = "store") -> tuple[DriftPoint, ...]:
    """The last ``limit`` monitor runs of ``model`` (any version) over ``source`` (the store's rows,
    or served traffic: two different windows, never one line), oldest first, from its
    ``drift.verdict`` entries. Read through the audit log's reader, which checks each entry's hash;
    the links between entries are checked here too, so an edited or removed entry is an
    :class:`AuditChainError`, never a quietly different chart."""
    prefix, points, previous = f"model:{model}:v", [], None
    for entry in audit.entries():
        if previous is not None and entry.prev_hash != previous:
            raise AuditChainError(f"audit entry {entry.seq} does not follow the entry before it",
                                  hint="run `python -m flows audit verify` to find the damage")
        previous = entry.hash
        version = entry.subject[len(prefix):]
        if entry.action != "drift.verdict" or not entry.subject.startswith(prefix) or not version.isdigit():
            continue
        d = entry.details
        if d.get("source", "store") != source:  # entries before served monitoring are the store's
            continue
        points.append(DriftPoint(entry.time, int(version), str(d.get("window", "")), bool(d.get("drifted")),
                                 float(d.get("share_drifted", 0.0)), d.get("psi") or {}))
    return tuple(points[-limit:]) if limit > 0 else ()


def monitor_champion(store: FeatureStore, label_contract: FeatureGroupContract, champion: ModelVersion,
                     window: Window, *, policy: DriftPolicy, label_horizon: timedelta, reports: Path,
                     audit: AuditLog, actor: Actor, label: str | None = None, source: str = "store",
                     returned_scores: np.ndarray | None = None, stable_charts: bool = False,
                     pii: ReportPii | None = None) -> MonitorResult:
    """Judge ``window`` against ``champion`` (loaded verified by the caller): features, its scores
    on the window and, where labels arrived, its performance on the stored batch scores. The HTML
    report is written before the ``drift.verdict`` entry that names it, so an entry never points at
    a report that is not there; it charts this run after the model's past runs (the entry records
    each feature's PSI for the charts of later runs), and every feature with ``stable_charts``.
    With ``source="served"`` the window is served traffic
    (:func:`usecases.served_window.served_window`), ``returned_scores`` the scores the server returned
    on it (judged as they were answered), and performance is measured on labelled served rows.
    ``pii`` (from the contracts) says how the report shows PII-tagged columns' values."""
    if source not in SOURCES or (source == "served") != (returned_scores is not None):
        raise InputError(f"monitor source {source!r} with{'' if returned_scores is not None else 'out'} served scores",
                         hint="pass returned_scores exactly when the source is 'served'")
    profile = reference_of(champion)
    model = TrainedModel.load(champion.path)
    # one number a row, as the reference profile holds them (a multiclass matrix is not flattened)
    predictions = returned_scores if returned_scores is not None else row_scores(model, predict(model, window.frame))
    labelled = labelled_scores(store, label_contract, champion, horizon=label_horizon, label=label,
                               classes=model.schema.classes, source=source, task=model.task)
    target = window_labels(store, label_contract, window, label=label) if profile.target else None
    report = detect_drift(profile, window.frame, policy, current_predictions=predictions, labelled=labelled,
                          reference_performance=champion.metadata.get("metrics"), current_target=target)
    html = report_path(reports, champion, window, source)
    made_at = format_time(utc_now())
    psi = {f.name: f.psi for f in report.features if math.isfinite(f.psi)}  # canonical JSON has no NaN
    now = DriftPoint(made_at, champion.version, window.key, report.drifted, report.share_drifted, psi)
    header = DriftHeader(champion.model, champion.version, format_time(window.start), format_time(window.end),
                         made_at)
    write_atomic(html, render_drift_html(
        report, profile, window.frame, current_predictions=predictions, header=header, policy=policy,
        history=(*drift_history(audit, champion.model, limit=HISTORY_RUNS - 1, source=source), now),
        stable_charts=stable_charts, pii=pii).encode())
    audit.append("drift.verdict", f"model:{champion.model}:v{champion.version}", {
        "drifted": report.drifted, "share_drifted": report.share_drifted, "psi": psi,
        "performance": dict(report.performance) if report.performance else None,
        "drifted_features": list(report.drifted_features()), "window": window.key,
        "current_rows": report.current_rows, "report": html.name, "source": source}, actor=actor)
    return MonitorResult(model=champion.model, version=champion.version, drifted=report.drifted,
                         drifted_features=report.drifted_features(), share_drifted=report.share_drifted,
                         window=f"{champion.model}:v{champion.version}:{window.key}", report=html,
                         performance=performance_line(report.performance), drift=report)
