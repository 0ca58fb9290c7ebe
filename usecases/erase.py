"""Erasure of entities (a data subject's right to be forgotten), the use case behind ``erase``.

Prefect-free, like the other admin use cases; ``tasks.erasure`` wraps it for flows. Every row
of the given entities is deleted from every group of the store (feature groups, labels, batch
predictions and the online server's ``served_predictions``, whose rows hold the entity when the
request looked it up or sent its key column) and from the quarantine, then the
tables are vacuumed so the Parquet files that held the rows are gone from disk; ingested drops
still in ``landing/`` that hold them are removed too. A drop in ``landing/`` that holds them and
is not ingested yet stops the erasure before anything is deleted: the next ingestion would bring
the rows back, so it must be ingested (or removed) first. The audit entry
records counts per group and a random request id, never the identifiers themselves: the trail
must not become a second copy of the personal data it proves was removed. Erasure removes the
rows from old Delta versions too, so a training set pinned to an earlier version no longer
rebuilds identically; that is the point of erasure, and the entry says so.

Compliance exports kept in the data home (``reports/audit-export-*``, folders or archives, and a
killed export's hidden staging folder) that hold any of the ids are removed, and counted in the
entry. An export is a signed bundle: rewriting it to drop the ids would break its signature, and
a re-export would be a different bundle covering a different trail; so it goes, and the person
who needs one exports again (the new bundle covers the ``erasure`` entry too).
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from driftline.atomic import fault_point
from driftline.errors import InputError
from features.landing import Handled, drops, mentioning
from features.served_predictions import SERVED_GROUP

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
    exports_removed: int = 0

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
    # The served table holds the key column only once a request carried it (an entity lookup, or the
    # key sent inline); until then it holds no entity to erase.
    rows = {group: ws.store.delete_entities(group, key_column, keys, missing_ok=group == SERVED_GROUP)
            for group in ws.store.groups()}
    quarantined = ws.quarantine.delete_entities(key_column, keys)
    for path in in_landing:
        path.unlink(missing_ok=True)
    exports = [p for p in kept_exports(ws.home.reports) if _holds(p, keys)]
    for path in exports:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        fault_point("erase.export_removed")
    result = ErasureResult(request_id=str(uuid.uuid4()), entities=len(keys), rows_by_group=rows,
                           quarantined_removed=quarantined, landing_removed=len(in_landing),
                           exports_removed=len(exports))
    ws.audit.append("erasure", f"erasure:{result.request_id}", {
        "entities": len(keys), "key_column": key_column, "rows_by_group": rows,
        "quarantined_removed": quarantined, "landing_files_removed": len(in_landing),
        "exports_removed": len(exports), "vacuumed": True,
        "reason": reason,
        "note": "identifiers are not recorded; versions before this erasure no longer rebuild"},
        actor=ws.actor(flow_run_id))
    ws.audit.checkpoint(ws.signing_key())
    return result


def kept_exports(reports: Path) -> list[Path]:
    """The compliance exports kept under ``reports/``: bundles, archives and staging folders."""
    if not reports.is_dir():
        return []
    return sorted(p for p in reports.iterdir()
                  if p.name.startswith(("audit-export-", ".audit-export-")) and not p.is_symlink())


def _chunks(path: Path) -> Iterator[bytes]:
    """Every file's bytes under ``path``; a zip archive's members decompressed, since its bytes hide them."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    for file in files:
        data = file.read_bytes()
        yield data
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
                for member in archive.namelist():
                    yield archive.read(member)


def _holds(path: Path, keys: Sequence[str]) -> bool:
    needles = [k.encode() for k in keys]
    return any(n in chunk for chunk in _chunks(path) for n in needles)
