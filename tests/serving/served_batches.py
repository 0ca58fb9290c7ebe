"""Served batches for the prediction-log, monitor and comparison tests (importable by child processes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from features.store import FeatureStore
from serving.prediction_log import PredictionLog
from serving.served import ServedBatch

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def batch(request_id: str, rows: int = 3, *, customers: list[str] | None = None, inline: bool = False,
          model: str = "churn", version: int = 3, role: str = "champion", returned: bool = True,
          minutes: int = 0, sessions: list[int] | None = None, scores: list[float] | None = None,
          outputs: pl.DataFrame | None = None, decision: bool = True) -> ServedBatch:
    """``rows`` rows of ``sessions`` scored as ``score`` (with the 0.5 ``decision`` unless told not), or as
    ``outputs``; entity keys looked up (``customers``) or sent inline."""
    sessions = sessions if sessions is not None else list(range(rows))
    scores = scores if scores is not None else [0.1 * (i % 10) for i in range(len(sessions))]
    inputs = pl.DataFrame({"sessions": sessions})
    entities = None
    if customers is not None and inline:
        inputs = inputs.with_columns(pl.Series("customer_id", customers))
    elif customers is not None:
        entities = pl.DataFrame({"customer_id": customers})
    if outputs is None:
        outputs = pl.DataFrame({"score": scores, "decision": [int(s >= 0.5) for s in scores]})
        outputs = outputs if decision else outputs.drop("decision")
    return ServedBatch(model=model, version=version, alias="champion" if role == "champion" else "challenger",
                       role=role, returned=returned, request_id=request_id,  # type: ignore[arg-type]
                       received_at=T0 + timedelta(minutes=minutes), protocol="v2", inputs=inputs,
                       outputs=outputs, entities=entities)


def serve(store: FeatureStore, *batches: ServedBatch) -> None:
    """Log ``batches`` to ``store`` as the server does, and flush them (the compare and monitor tests)."""
    log = PredictionLog(store, entity_keys=["customer_id"])
    for b in batches:
        log.submit(b)
    log.close()
