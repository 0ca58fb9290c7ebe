"""Compaction of a fragmented feature group: many small appends leave many small files, which slow
every read and every later commit (Delta's state lists each file).

:func:`compact_if_fragmented` is shared by ingestion (after a run, each group that received rows)
and the online server's prediction log (every so many commits, in a thread of its own). Compaction
rewrites files, never rows, and keeps the old files for time travel, so a kill before its
``store.compact`` entry loses a record of housekeeping, never data (the Delta log keeps the commit).
"""

from __future__ import annotations

from driftline.atomic import fault_point
from features.store import CompactionResult, FeatureStore
from governance.actor import Actor
from governance.audit import AuditLog


def compact_if_fragmented(store: FeatureStore, group: str, *, min_files: int, audit: AuditLog | None,
                          actor: Actor | None) -> CompactionResult | None:
    """Compact ``group`` when its current version has ``min_files`` files or more; the ``store.compact``
    entry is written when ``audit`` and ``actor`` are given. None when there was nothing to do."""
    if len(store.snapshot(group).files) < min_files:
        return None
    result = store.compact(group)
    fault_point("ingest.compacted")
    if audit is not None and actor is not None:
        audit.append("store.compact", f"group:{group}", {
            "files_removed": result.files_removed, "files_added": result.files_added,
            "version_before": result.version_before, "version_after": result.version_after}, actor=actor)
    return result
