"""A pinned view of one feature group: the Delta version read and the Parquet files that make it up.

The store hands snapshots to the training-set builder and the drift monitor, so those read exactly
one version of each group with DuckDB, and a model's lineage can name the versions it was trained on.
``GroupSnapshot(g, v, files)`` is reproducible: reading the same group at version ``v`` again yields
the same files (Delta time travel), hence the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSnapshot:
    """Group ``group`` as of Delta table version ``version``; ``files`` are absolute Parquet paths.

    Stored rows carry the contract's columns plus two bookkeeping columns: ``_ingested_at``
    (timestamp, UTC) and ``_source`` (sha256 of the drop the row came from). Readers keep, for
    each (entity keys, event time), the row with the latest ``_ingested_at``.
    """

    group: str
    version: int
    files: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
