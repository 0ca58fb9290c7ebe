"""The batch-scoring flow: the verified champion scores every entity's latest features.

Predictions go into the store's ``predictions`` group with the model version that made them, so
prediction drift and, once labels arrive, performance can be monitored from the store.
Triggered after a promotion and on a schedule. The work is the ``score`` use case
(:mod:`usecases.score`); this flow loads the champion verified, runs it in a task and closes the
run with a signed audit checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataclasses import dataclass

from prefect import flow
from prefect.states import Completed

from flows.catalog import LocalOnly
from tasks.audit import checkpoint
from tasks.scoring import score_latest
from tasks.recovery import reconcile_on_start
from tasks.workspace import Workspace


@dataclass(frozen=True)
class ScoreOutcome:
    """The flow's result, as a deployment's run shows it: ``as_of`` in ISO 8601 (UTC)."""

    model: str
    version: int
    rows: int
    as_of: str
    delta_version: int
    out: str | None = None


@flow(name="score", log_prints=True)
def score_flow(model: str | None = None, out: str | None = None, home: LocalOnly[str | None] = None,
               overrides: dict[str, Any] | None = None) -> ScoreOutcome:
    """Score all entities with the champion and store the predictions (and write them to ``out``,
    a .csv or .parquet file, when given).

    Args:
        model: the declared model's name; the settings' model when empty.
        out: also write the predictions to this .csv or .parquet file; none when empty.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
    """
    ws = Workspace.for_model(home, model, overrides)
    reconcile_on_start(ws)
    try:
        champion = ws.registry.load(ws.settings.model_name, "champion")
        result = score_latest(ws, champion, Path(out) if out else None)
        outcome = ScoreOutcome(model=result.model, version=result.version, rows=result.rows,
                               as_of=result.as_of.isoformat(), delta_version=result.delta_version,
                               out=str(result.out) if result.out else None)
        # Rows scored as the run's state message, read in the run list (the log has the same line).
        message = (f"{outcome.model} v{outcome.version} scored {outcome.rows} rows "
                   f"(predictions v{outcome.delta_version})")
        return Completed(message=message, data=outcome)  # type: ignore[return-value]
    finally:
        checkpoint(ws)
