"""What the server hands on after answering: one :class:`ServedBatch` per scored request and role.

The HTTP side (:mod:`serving.app`) builds a batch for every request it answered and gives it to a
:class:`PredictionSink` without waiting: the sink (:mod:`serving.prediction_log`) appends batches to
the store's served-predictions table in the background, so logging adds no latency. A challenger
scored in shadow or canary produces a batch of its own with ``role`` set accordingly; only the
batch whose ``returned`` is true was the answer the caller received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import polars as pl

Role = Literal["champion", "challenger", "pinned"]


@dataclass(frozen=True)
class ServedBatch:
    """One request's rows as one model version scored them.

    ``inputs`` holds the features as validated and typed (one row per scored row; for an entity
    lookup, the stored features that were scored, with the entity keys in ``entities``);
    ``outputs`` the prediction columns of :func:`usecases.predict_file.prediction_columns`, row for
    row. ``received_at`` is when the request arrived (UTC, aware).
    """

    model: str
    version: int
    alias: str | None
    role: Role
    returned: bool
    request_id: str
    received_at: datetime
    protocol: Literal["v2", "mlflow"]
    inputs: pl.DataFrame
    outputs: pl.DataFrame
    entities: pl.DataFrame | None = None


class PredictionSink(Protocol):
    """Takes served batches without blocking the request; ``close`` flushes what it holds."""

    def submit(self, batch: ServedBatch) -> None: ...

    def close(self) -> None: ...


class DiscardSink:
    """A sink that keeps nothing (``--no-log``, and tests of the HTTP side alone)."""

    def submit(self, batch: ServedBatch) -> None:
        pass

    def close(self) -> None:
        pass
