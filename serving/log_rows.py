"""The prediction log's rows: queued served batches turned into the ``served_predictions`` layout.

:func:`runs` groups consecutive batches of one shape (same model, version, alias, role, protocol and
columns) so that :func:`run_frame` builds their rows through one :func:`features.served_predictions.served_frame`
instead of one frame a request: at one row a request that had cost the server as much CPU as
scoring. :func:`widens` says which type differences a stored column may take without altering a
value (the log refuses the others rather than let Delta cast them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
import pyarrow as pa

from features.served_predictions import RECEIVED_AT, REQUEST_ID, ROW, served_frame
from serving.served import ServedBatch


def widens(given: pa.DataType, stored: pa.DataType) -> bool:
    """A cast from ``given`` to ``stored`` keeps every value: same kind, no narrower (ints into floats too)."""
    if pa.types.is_integer(given) and (pa.types.is_integer(stored) or pa.types.is_floating(stored)):
        return bool(pa.types.is_floating(stored) or stored.bit_width >= given.bit_width)
    if pa.types.is_floating(given) and pa.types.is_floating(stored):
        return bool(stored.bit_width >= given.bit_width)
    string = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    return any(f(given) for f in string) and any(f(stored) for f in string)


_UTC_US = pl.Datetime("us", "UTC")  # as features.served_predictions stores times


def _shape(batch: ServedBatch) -> tuple[object, ...]:
    """What a run of batches must share to be stored through one frame: everything but the rows and
    the column types (names compare in C; types would cost ~10 us a batch in Python, and columns of
    two types are put together by the same relaxed rules the per-batch frames were)."""
    entities = None if batch.entities is None else tuple(batch.entities.columns)
    return (batch.model, batch.version, batch.alias, batch.role, batch.returned, batch.protocol,
            tuple(batch.inputs.columns), tuple(batch.outputs.columns), entities)


def runs(batches: Sequence[ServedBatch]) -> list[list[ServedBatch]]:
    """Consecutive batches of one shape, in order (a batch whose parts differ in height stands alone,
    so that :func:`served_frame` refuses it as it is)."""
    runs: list[list[ServedBatch]] = []
    last: tuple[object, ...] | None = None
    for b in batches:
        whole = b.inputs.height == b.outputs.height and (b.entities is None or b.entities.height == b.outputs.height)
        shape = _shape(b) if whole else None
        if shape is not None and shape == last:
            runs[-1].append(b)
        else:
            runs.append([b])
        last = shape
    return runs


def run_frame(run: list[ServedBatch], entity_keys: Sequence[str], logged_at: datetime, source: str) -> pl.DataFrame:
    """The stored rows of a run of requests: one :func:`served_frame` over their rows put together,
    then each row's own request id, row number and arrival time. Per request, building the frame
    (a query of some twenty columns) cost ~1 ms of the server's CPU, as much as scoring one row."""
    first = run[0]
    if len(run) == 1:
        inputs, outputs, entities = first.inputs, first.outputs, first.entities
    else:
        inputs = pl.concat([b.inputs for b in run], how="vertical_relaxed")
        outputs = pl.concat([b.outputs for b in run], how="vertical_relaxed")
        entities = (None if first.entities is None
                    else pl.concat([b.entities for b in run if b.entities is not None], how="vertical_relaxed"))
    frame = served_frame(inputs, outputs, entities, entity_keys=entity_keys, model=first.model,
                         version=first.version, alias=first.alias, role=first.role, returned=first.returned,
                         request_id=first.request_id, received_at=first.received_at, protocol=first.protocol,
                         logged_at=logged_at, source=source)
    if len(run) == 1:
        return frame
    heights = [b.outputs.height for b in run]
    return frame.with_columns(
        pl.Series(REQUEST_ID, [b.request_id for b in run]).gather(np.repeat(np.arange(len(run)), heights)),
        pl.Series(ROW, np.concatenate([np.arange(h, dtype=np.int64) for h in heights])),
        pl.Series(RECEIVED_AT, [b.received_at for b in run]).cast(_UTC_US).gather(np.repeat(np.arange(len(run)),
                                                                                            heights)))
