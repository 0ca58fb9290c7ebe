"""What a feature group's Delta table records about its rows, besides the rows.

The transaction log outlives erasure (it also holds the record of which drops were ingested), so
it must never hold a personal value: :func:`stats_columns` decides which columns may get min/max
statistics in it, :func:`creation_config` sets that (and a log kept for a century) when a table is
created, and :func:`file_stats` writes those statistics for Parquet files added as they are
(:meth:`features.store.FeatureStore.append_files`), read from their footers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Delta would otherwise drop commit files older than 30 days at a checkpoint, and with them the
# record of which drops were ingested; the log is small, so keep it.
_TABLE_CONFIG = {"delta.logRetentionDuration": "interval 36500 days"}


def stats_columns(schema: pa.Schema, pii_columns: Sequence[str]) -> list[str]:
    """Columns whose min/max Delta may write into its transaction log.

    The log outlives erasure (it also holds the idempotency record), so it must never hold a
    personal value: no statistics for PII-tagged columns, nor for any string column (free text
    may carry what nobody tagged). DuckDB reads the Parquet files directly, so nothing is lost.
    """
    pii = set(pii_columns)
    return [f.name for f in schema if f.name not in pii and not (
        pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type))]


def creation_config(schema: pa.Schema, pii_columns: Sequence[str]) -> dict[str, str]:
    columns = stats_columns(schema, pii_columns)
    if not columns:
        return {**_TABLE_CONFIG, "delta.dataSkippingNumIndexedCols": "0"}
    return {**_TABLE_CONFIG, "delta.dataSkippingStatsColumns": ",".join(columns)}


def _stat(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.isoformat() if isinstance(value, date) else value


def file_stats(path: Path, columns: Sequence[str]) -> str:
    """Delta's per-file statistics, from the Parquet footer: row count, and null counts and min/max
    of ``columns`` only (the :func:`stats_columns` rule), leaving out any a row group lacks."""
    meta = pq.ParquetFile(path).metadata
    lows: dict[str, object] = {}
    highs: dict[str, object] = {}
    nulls: dict[str, int] = {}
    where = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for name in (c for c in columns if c in where):
        groups = [meta.row_group(g).column(where[name]).statistics for g in range(meta.num_row_groups)]
        if not groups or any(st is None or not st.has_null_count for st in groups):
            continue
        nulls[name] = sum(st.null_count for st in groups)
        valued = [st for st in groups if st.has_min_max]
        bounded = all(not isinstance(v, float) or math.isfinite(v) for st in valued for v in (st.min, st.max))
        if valued and bounded and all(st.has_min_max or st.null_count == meta.row_group(g).num_rows
                                      for g, st in enumerate(groups)):
            lows[name] = _stat(min(st.min for st in valued))
            highs[name] = _stat(max(st.max for st in valued))
    return json.dumps({"numRecords": meta.num_rows, "minValues": lows, "maxValues": highs, "nullCount": nulls})
