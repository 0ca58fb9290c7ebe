"""The search-worker flow: pool mode's extra hands on one Optuna study.

A training run in pool mode starts ``parallel_workers - 1`` of these on the work pool. Each
rebuilds the training run's training set from the same Delta versions (time travel, so the same
rows and the same fingerprint, hence the same study name), splits it the same way, and runs
trials of the shared study in the PostgreSQL storage until the study holds its trial budget. The
training run then refits on the study's best parameters, whichever process found them.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.catalog import LocalOnly
from tasks.training import search, training_set
from tasks.workspace import Workspace
from training.split import time_holdout


@flow(name="search-worker", log_prints=True)
def search_worker_flow(versions: dict[str, int], worker: int, model: str | None = None,
                       home: LocalOnly[str | None] = None, overrides: dict[str, Any] | None = None) -> int:
    """Run trials of the study of the training set pinned by ``versions``; returns how many.

    Args:
        versions: the Delta version of every group, as the training run pinned them (required).
        worker: this worker's number, 1 and up; seeds its sampler apart from the others' (required).
        model: the declared model's name; the settings' model when empty.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
    """
    ws = Workspace.for_model(home, model, overrides)
    s = ws.settings
    snapshots = {g: ws.store.snapshot(g, versions[g]) for g in (s.label_group, *s.feature_groups)}
    ts = training_set(ws, snapshots)
    train, _ = time_holdout(ts.frame, ts.time_column, s.training.holdout_fraction)
    result = search(ws, ts, train, worker=worker)
    return sum(1 for t in result.trials if t.state in ("COMPLETE", "PRUNED"))
