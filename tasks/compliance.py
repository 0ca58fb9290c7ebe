"""Compliance export, shared by the ``audit export`` command and the monthly ``audit-export`` flow.

Prefect-free on purpose: the command answers without a server, and the flow adds only its
artifact. PII-tagged contract columns are passed to the exporter as fields to mask, so a value of
such a column never leaves in an audit entry's details. The export itself is audited and closed
with a signed checkpoint.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from governance.export import export_bundle
from tasks.workspace import Workspace


def export_audit(ws: Workspace, *, out: Path | None = None, since: str | None = None,
                 until: str | None = None, flow_run_id: str | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = out or ws.home.reports / f"audit-export-{stamp}"
    key = ws.signing_key()
    public_keys = ws.trust.public_pems()
    pii = sorted({c for contract in ws.contracts.values() for c in contract.pii_columns})
    path = export_bundle(target, audit=ws.audit, registry_root=ws.home.registry, public_keys=public_keys,
                         signer=key, since=since, until=until, pii_fields=pii)
    ws.audit.append("audit.export", f"export:{path.name}",
                    {"since": since, "until": until, "masked_fields": pii}, actor=ws.actor(flow_run_id))
    ws.audit.checkpoint(key)
    return path
