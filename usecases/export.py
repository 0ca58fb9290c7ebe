"""Compliance export as a use case, behind both the ``audit export`` command and the ``audit-export`` flow.

PII-tagged contract columns are passed to the exporter as fields to mask, so a value of such a
column never leaves in an audit entry's details. The bundle is written whole or not at all
(``governance.export.export_bundle`` stages it and renames it into place); then the export is
audited once (``audit.export``) and closed with a signed checkpoint. An export killed after its
rename and before its entry leaves a whole bundle that verifies but is not in the trail: the
rerun writes a new bundle (under a new default name) and its entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from governance.export import export_bundle

if TYPE_CHECKING:
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class ExportResult:
    """The bundle written, the range it covers and the fields masked in it."""

    path: Path
    since: str | None
    until: str | None
    masked_fields: tuple[str, ...]


def export_audit(ws: "Workspace", *, out: Path | None = None, since: str | None = None,
                 until: str | None = None, flow_run_id: str | None = None) -> ExportResult:
    """Write a signed bundle of the entries of [since, until) to ``out`` (default
    ``reports/audit-export-<time>``, which must not exist), audited and checkpointed."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = Path(out) if out is not None else ws.home.reports / f"audit-export-{stamp}"
    key = ws.signing_key()
    public_keys = ws.trust.public_pems()
    pii = tuple(sorted({c for contract in ws.contracts.values() for c in contract.pii_columns}))
    path = export_bundle(target, audit=ws.audit, registry_root=ws.home.registry, public_keys=public_keys,
                         signer=key, since=since, until=until, pii_fields=pii)
    ws.audit.append("audit.export", f"export:{path.name}",
                    {"since": since, "until": until, "masked_fields": list(pii)}, actor=ws.actor(flow_run_id))
    ws.audit.checkpoint(key)
    return ExportResult(path=path, since=since, until=until, masked_fields=pii)
