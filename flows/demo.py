"""``python -m flows demo``: the whole loop on generated data, in one process, with no server.

The demo plays a quarter of a churn team's life: 90 days of customer drops are generated
(seeded; CSV and Parquet; a few bad rows planted), days 1-60 land and are ingested, a first model
is trained, gated, signed and promoted, the promotion triggers batch scoring; then days 61-90
land, the monitor finds the drift the generator put after day 60, and the
``driftline.drift.detected`` event starts the retraining flow through the same trigger table a
deployment uses. The summary names every version, verdict and report.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.errors import InputError
from features.ingest import IngestReport
from flows.demo_data import generate_demo
from flows.local import Dispatched, LocalRun, expect, run_local
from usecases.monitor import MonitorResult
from governance.audit_verify import AuditVerification
from tasks.workspace import Workspace
from usecases.outcomes import RetrainSkipped, TrainOutcome

if TYPE_CHECKING:
    from governance.witness import Witness

DEMO_MARKER = ".driftline-demo"
FIRST_PHASE_DAYS = 60


@dataclass(frozen=True)
class IngestStage:
    """One ingestion of the demo: which days landed, and the report of every file."""

    label: str
    reports: tuple[IngestReport, ...]


@dataclass(frozen=True)
class Stage:
    """How long one stage of the demo took, in wall-clock seconds."""

    name: str
    seconds: float


@dataclass(frozen=True)
class DemoSummary:
    """What one demo run did, as :func:`print_summary` prints it; ``monitor`` is None when the
    gate refused the first model (nothing to monitor)."""

    home: Path
    seconds: float
    ingests: tuple[IngestStage, ...]
    trainings: tuple[TrainOutcome, ...]
    monitor: MonitorResult | None
    dispatched: tuple[Dispatched, ...]
    audit: AuditVerification
    planted_bad_rows: int
    stages: tuple[Stage, ...]


def demo_overrides(flags: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The demo's settings over the environment's: its own defaults, unless a ``DRIFTLINE_*``
    variable sets them, under the command's ``flags`` (which always win).

    The search budget is small on purpose (the demo must finish in under a minute on 2 cores), and
    the customers come in plans and regions, so no segment may lose to the champion.
    """
    training: dict[str, Any] = {}
    gate: dict[str, Any] = {}
    if "DRIFTLINE_TRAINING__MAX_ROUNDS" not in environ:
        training["max_rounds"] = 300
    if "DRIFTLINE_GATE__SLICE_COLUMNS" not in environ:
        gate["slice_columns"] = ["plan", "region"]
    training.update(flags.get("training", {}))
    gate.update(flags.get("gate", {}))
    merged = {**flags, "training": training, "gate": gate}
    return {name: group for name, group in merged.items() if group != {}}


def _ingested(label: str, run: LocalRun) -> IngestStage:
    return IngestStage(label, tuple(expect(r, IngestReport, "ingest") for r in run.result_as(list)))


def prepare_home(home: Path, witness: Witness | None = None) -> None:
    """Start from an empty data home; only a home an earlier demo made may be wiped.

    Wiping it on purpose also forgets its witness, which would otherwise (rightly) call the fresh
    audit trail a deleted one.
    """
    if home.exists() and any(home.iterdir()):
        if not (home / DEMO_MARKER).exists():
            raise InputError(f"{home} already holds data that the demo did not create",
                             hint="run the demo with --home pointing at a new folder")
        shutil.rmtree(home)
        if witness is not None:
            witness.forget()
    home.mkdir(parents=True, exist_ok=True)
    (home / DEMO_MARKER).write_text("made by python -m flows demo; safe to delete\n", encoding="utf-8")


def _land(files: list[Path], source: Path, landing: Path) -> None:
    """Move generated drops into landing/, as files arriving from upstream would."""
    for path in files:
        target = landing / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def run_demo(*, customers: int = 1500, seed: int = 7, home: str | os.PathLike[str] | None = None,
             overrides: Mapping[str, Any] | None = None) -> DemoSummary:
    """Run the whole loop on data home ``home`` (default: the settings') with settings ``overrides``
    (see :func:`demo_overrides`), passed to every flow it runs."""
    started = time.perf_counter()
    given = dict(overrides or {})
    ws = Workspace.open(home, **given)
    prepare_home(ws.settings.home.resolve(), ws.witness)
    data = ws.home
    where = str(data.root)  # every flow works on the home just prepared, whatever the cwd
    source = data.root / "demo-source"
    drop = generate_demo(source, seed=seed, customers=customers)
    stages: list[Stage] = []
    ingests: list[IngestStage] = []
    dispatched: list[Dispatched] = []
    monitor: MonitorResult | None = None

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        stages.append(Stage(stage, now - since))
        return now

    mark = lap("generate data", started)
    _land(list(drop.paths(1, FIRST_PHASE_DAYS)), source, data.landing)
    ingests.append(_ingested(f"days 1-{FIRST_PHASE_DAYS}", run_local("ingest", home=where, overrides=given)))
    mark = lap("ingest days 1-60 (Prefect start-up included)", mark)
    first = run_local("train", home=where, overrides=given, reason="initial training")
    outcome = first.result_as(TrainOutcome)
    trainings = [outcome]
    dispatched += first.dispatched
    mark = lap("train, gate, register, promote, score", mark)

    _land(list(drop.paths(FIRST_PHASE_DAYS + 1)), source, data.landing)
    ingests.append(_ingested(f"days {FIRST_PHASE_DAYS + 1}-{drop.days}",
                             run_local("ingest", home=where, overrides=given)))
    mark = lap(f"ingest days {FIRST_PHASE_DAYS + 1}-{drop.days}", mark)
    if outcome.promoted:  # a rejected first model leaves nothing to monitor: the gate did its job
        watched = run_local("monitor", home=where, overrides=given)
        monitor = watched.result_as(MonitorResult)
        dispatched += watched.dispatched
        trainings += [expect(r, TrainOutcome, "retrain") for r in watched.results_of("train", "retrain")
                      if not isinstance(r, RetrainSkipped)]  # a skip is audited; nothing was trained
        mark = lap("monitor, drift-triggered retrain, promote, score", mark)
    shutil.rmtree(source, ignore_errors=True)  # every drop has landed; only empty folders remain

    audit = ws.audit.verify(ws.trust)
    lap("verify audit trail", mark)
    return DemoSummary(home=data.root, seconds=time.perf_counter() - started, ingests=tuple(ingests),
                       trainings=tuple(trainings), monitor=monitor, dispatched=tuple(dispatched), audit=audit,
                       planted_bad_rows=drop.bad_rows(), stages=tuple(stages))


def print_summary(s: DemoSummary) -> None:
    print(f"\ndriftline demo finished in {s.seconds:.1f} s on {os.cpu_count()} cores; data home {s.home}\n")
    print(f"{'ingestion':<14}{'files':>7}{'stored rows':>13}{'quarantined':>13}{'rejected files':>16}")
    for stage in s.ingests:
        label, reports = stage.label, stage.reports
        print(f"{label:<14}{len(reports):>7}{sum(r.rows_stored for r in reports):>13,}"
              f"{sum(r.rows_quarantined for r in reports):>13,}{sum(r.status == 'rejected' for r in reports):>16}")
    print(f"  ({s.planted_bad_rows} bad rows were planted by the generator; see {s.home / 'quarantine'})\n")
    print(f"{'version':<9}{'status':<10}{'AUC':>7}{'logloss':>9}  {'champion then':<15}verdict")
    for t in s.trainings:
        champ = f"v{t.champion_version} AUC {t.champion_metrics['auc']:.3f}" if t.champion_metrics else "-"
        verdict = "promoted" if t.promoted else "rejected: " + "; ".join(t.reasons)
        scores = f"{t.metrics['auc']:>7.3f}{t.metrics['logloss']:>9.3f}"
        print(f"v{t.version:<8}{t.status:<10}{scores}  {champ:<15}{verdict}")
    m = s.monitor
    if m is None:
        print("\nno champion, so nothing was monitored: the gate refused the first model (see its report)")
        _print_audit(s)
        return
    drift = f"DRIFT in {', '.join(m.drifted_features)} ({m.share_drifted:.0%} of features)" if m.drifted else "no drift"
    print(f"\ndrift of v{m.version} over {m.window.split(':')[-1]}: {drift}")
    print(f"  performance of v{m.version}'s batch scores: {m.performance}")
    for d in s.dispatched:
        print(f"  event {d.event} -> deployment {d.deployment} ran flow {d.flow}")
    _print_audit(s)


def _print_audit(s: DemoSummary) -> None:
    a = s.audit
    print(f"\naudit trail: {a.entries} entries, {a.checkpoints} signed checkpoints, "
          f"{'verified ok' if a.ok else 'BROKEN at ' + str(a.first_bad_seq) + ': ' + str(a.problem)}")
    print(f"reports: {s.home / 'reports'} (gate reports per version, drift report)")
    print("time: " + "; ".join(f"{stage.name} {stage.seconds:.1f} s" for stage in s.stages))
    print("next: python -m flows registry list | registry verify churn | audit verify | audit export")
