"""Erasure of entities (a data subject's right to be forgotten), the use case behind ``erase``.

Prefect-free, like the other admin use cases; ``tasks.erasure`` wraps it for flows. Every row
of the given entities is deleted from every group of the store (feature groups, labels and
predictions) and from the quarantine, then the
tables are vacuumed so the Parquet files that held the rows are gone from disk; ingested drops
still in ``landing/`` that hold them are removed too. A drop in ``landing/`` that holds them and
is not ingested yet stops the erasure before anything is deleted: the next ingestion would bring
the rows back, so it must be ingested (or removed) first. The audit entry
records counts per group and a random request id, never the identifiers themselves: the trail
must not become a second copy of the personal data it proves was removed. Erasure removes the
rows from old Delta versions too, so a training set pinned to an earlier version no longer
rebuilds identically; that is the point of erasure, and the entry says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driftline.errors import InputError
from features.landing import Handled, drops, mentioning

if TYPE_CHECKING:
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class ErasureResult:
    """Counts of what one erasure removed; the entry in the audit trail carries the same counts."""

    request_id: str
    entities: int
    rows_by_group: dict[str, int]
    quarantined_removed: int
    landing_removed: int

    @property
    def total(self) -> int:
        return sum(self.rows_by_group.values()) + self.quarantined_removed + self.landing_removed


def erase_entities(ws: "Workspace", keys: Sequence[str], *, reason: str,
                   flow_run_id: str | None = None) -> ErasureResult:
    """Delete every row of ``keys`` everywhere, vacuum, audit the counts once and checkpoint."""
    keys = sorted({k.strip() for k in keys if k.strip()})
    if not keys:
        raise InputError("no entity to erase", hint="name one or more entity ids")
    if not reason.strip():
        raise InputError("an erasure needs a reason (for example the request reference)")
    key_columns = {c.entity_keys[0] for c in ws.contracts.values()}
    if len(key_columns) != 1:
        raise InputError(f"the contracts use several entity keys ({', '.join(sorted(key_columns))})",
                         hint="erasure by one key column needs contracts that share it")
    (key_column,) = key_columns
    in_landing = mentioning(drops(ws.home.landing), key_column, keys)
    if in_landing:
        handled = Handled.read(ws.store, ws.quarantine, {p.parent.name for p in in_landing})
        waiting = [p for p in in_landing if p not in handled]
        if waiting:
            names = ", ".join(str(p.relative_to(ws.home.landing)) for p in waiting[:5])
            raise InputError(f"{len(waiting)} drop(s) in landing/ hold rows of these entities and are not "
                             f"ingested yet ({names}); nothing was erased",
                             hint="run `python -m flows ingest` (or remove those drops), then erase again")
    rows = {group: ws.store.delete_entities(group, key_column, keys) for group in ws.store.groups()}
    quarantined = ws.quarantine.delete_entities(key_column, keys)
    for path in in_landing:
        path.unlink(missing_ok=True)
    result = ErasureResult(request_id=str(uuid.uuid4()), entities=len(keys), rows_by_group=rows,
                           quarantined_removed=quarantined, landing_removed=len(in_landing))
    ws.audit.append("erasure", f"erasure:{result.request_id}", {
        "entities": len(keys), "key_column": key_column, "rows_by_group": rows,
        "quarantined_removed": quarantined, "landing_files_removed": len(in_landing), "vacuumed": True,
        "reason": reason,
        "note": "identifiers are not recorded; versions before this erasure no longer rebuild"},
        actor=ws.actor(flow_run_id))
    ws.audit.checkpoint(ws.signing_key())
    return result
