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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftline.errors import InputError
from flows.demo_data import generate_demo
from flows.local import Dispatched, run_local
from tasks.workspace import Workspace

DEMO_MARKER = ".driftline-demo"
FIRST_PHASE_DAYS = 60


@dataclass
class DemoSummary:
    home: Path
    seconds: float = 0.0
    ingests: list[tuple[str, list[Any]]] = field(default_factory=list)
    trainings: list[Any] = field(default_factory=list)
    monitor: Any = None
    dispatched: list[Dispatched] = field(default_factory=list)
    audit: Any = None
    planted_bad_rows: int = 0
    stages: list[tuple[str, float]] = field(default_factory=list)

    def lap(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.stages.append((stage, now - since))
        return now


def prepare_home(home: Path, witness: Any = None) -> None:
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


def run_demo(*, customers: int = 1500, seed: int = 7) -> DemoSummary:
    started = time.perf_counter()
    ws = Workspace.open()
    prepare_home(ws.settings.home.resolve(), ws.witness)
    home = ws.home
    summary = DemoSummary(home=home.root)
    source = home.root / "demo-source"
    drop = generate_demo(source, seed=seed, customers=customers)
    summary.planted_bad_rows = drop.bad_rows()

    lap = summary.lap("generate data", started)

    _land(list(drop.paths(1, FIRST_PHASE_DAYS)), source, home.landing)
    reports, _ = run_local("ingest")
    summary.ingests.append((f"days 1-{FIRST_PHASE_DAYS}", reports))
    lap = summary.lap("ingest days 1-60 (Prefect start-up included)", lap)
    outcome, dispatched = run_local("train", reason="initial training")
    summary.trainings.append(outcome)
    summary.dispatched += dispatched
    lap = summary.lap("train, gate, register, promote, score", lap)

    _land(list(drop.paths(FIRST_PHASE_DAYS + 1)), source, home.landing)
    reports, _ = run_local("ingest")
    summary.ingests.append((f"days {FIRST_PHASE_DAYS + 1}-{drop.days}", reports))
    lap = summary.lap(f"ingest days {FIRST_PHASE_DAYS + 1}-{drop.days}", lap)
    if outcome.promoted:  # a rejected first model leaves nothing to monitor: the gate did its job
        summary.monitor, dispatched = run_local("monitor")
        summary.dispatched += dispatched
        summary.trainings += [d.result for d in dispatched if d.flow in ("train", "retrain") and d.result]
        lap = summary.lap("monitor, drift-triggered retrain, promote, score", lap)
    shutil.rmtree(source, ignore_errors=True)  # every drop has landed; only empty folders remain

    summary.audit = ws.audit.verify(ws.trust)
    summary.lap("verify audit trail", lap)
    summary.seconds = time.perf_counter() - started
    return summary


def print_summary(s: DemoSummary) -> None:
    print(f"\ndriftline demo finished in {s.seconds:.1f} s on {os.cpu_count()} cores; data home {s.home}\n")
    print(f"{'ingestion':<14}{'files':>7}{'stored rows':>13}{'quarantined':>13}{'rejected files':>16}")
    for label, reports in s.ingests:
        print(f"{label:<14}{len(reports):>7}{sum(r.rows_stored for r in reports):>13,}"
              f"{sum(r.rows_quarantined for r in reports):>13,}{sum(r.status == 'rejected' for r in reports):>16}")
    print(f"  ({s.planted_bad_rows} bad rows were planted by the generator; see {s.home / 'quarantine'})\n")
    print(f"{'version':<9}{'status':<10}{'AUC':>7}{'logloss':>9}  {'champion then':<15}verdict")
    for t in s.trainings:
        champ = f"v{t.champion_version} AUC {t.champion_metrics['auc']:.3f}" if t.champion_metrics else "-"
        verdict = "promoted" if t.promoted else "rejected: " + "; ".join(t.reasons)
        print(f"v{t.version:<8}{t.status:<10}{t.metrics['auc']:>7.3f}{t.metrics['logloss']:>9.3f}  {champ:<15}{verdict}")
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
    print("time: " + "; ".join(f"{name} {seconds:.1f} s" for name, seconds in s.stages))
    print("next: python -m flows registry list | registry verify churn | audit verify | audit export")
