"""Compliance export as a use case, behind both the ``audit export`` command and the ``audit-export`` flow.

PII-tagged contract columns are passed to the exporter as fields to mask, so a value of such a
column never leaves in an audit entry's details. The bundle is written whole or not at all
(``governance.export.export_bundle`` stages it and renames it into place); then the export is
audited once (``audit.export``) and closed with a signed checkpoint. An export killed after its
rename and before its entry leaves a whole bundle that verifies but is not in the trail: the
rerun writes a new bundle (under a new default name) and its entry.

``model=NAME`` exports one model's story: the entries whose subject names it (``model:NAME``,
``model:NAME:vN``, its studies ``study:NAME-...`` and gate decisions ``NAME candidate ...``) and
the ingest, quarantine and compaction entries of its declared groups (:func:`model_entries`); the
rest of the chain ships as links only, so the bundle still verifies offline (see
:mod:`governance.export`). An undeclared model is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from driftline.progress import Progress
from governance.audit import AuditEntry
from governance.export import export_bundle
from governance.export_pii import PiiPolicy, derive_hash_key
from usecases.models import ModelSpec, models_folder, resolve_spec

if TYPE_CHECKING:
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class ExportResult:
    """The bundle written, the range it covers and the fields masked in it."""

    path: Path
    since: str | None
    until: str | None
    masked_fields: tuple[str, ...]
    model: str | None = None
    pii_policy: str = "mask"
    formats: tuple[str, ...] = ()


GROUP_ACTIONS = frozenset({"ingest", "quarantine", "store.compact"})


def model_entries(spec: ModelSpec) -> Callable[[AuditEntry], bool]:
    """Which audit entries tell model ``spec.name``'s story (see the module doc)."""
    name, groups = spec.name, {f"group:{g}" for g in (spec.label_group, *spec.feature_groups)}

    def keep(entry: AuditEntry) -> bool:
        subject = entry.subject
        return (subject == f"model:{name}" or subject.startswith((f"model:{name}:", f"study:{name}-",
                                                                  f"{name} candidate "))
                or (entry.action in GROUP_ACTIONS and subject in groups))
    return keep


def export_audit(ws: "Workspace", *, out: Path | None = None, since: str | None = None,
                 until: str | None = None, flow_run_id: str | None = None,
                 model: str | None = None, pii_policy: str = "mask",
                 formats: tuple[str, ...] = (), progress: Progress | None = None) -> ExportResult:
    """Write a signed bundle of the entries of [since, until) (of ``model`` alone when named) to
    ``out`` (default ``reports/audit-export-<time>``, which must not exist), audited and checkpointed;
    ``progress(done, total, step)`` follows the bundle's steps (a bar on a terminal)."""
    spec = resolve_spec(models_folder(ws.settings), model) if model is not None else None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    default = f"audit-export-{model}-{stamp}" if model else f"audit-export-{stamp}"
    target = Path(out) if out is not None else ws.home.reports / default
    key = ws.signing_key()
    public_keys = ws.trust.public_pems()
    pii = tuple(sorted({c for contract in ws.contracts.values() for c in contract.pii_columns}))
    # The keyed hash's key comes from the signing key's private scalar and is never written: only
    # the holder of the signing key can recompute (or test guesses against) a hashed identifier.
    scalar = key._private.private_numbers().private_value.to_bytes(32, "big")
    policy = PiiPolicy(pii, pii_policy, derive_hash_key(scalar) if pii_policy == "hash" else None)
    path = export_bundle(target, audit=ws.audit, registry_root=ws.home.registry, public_keys=public_keys,
                         signer=key, since=since, until=until, pii=policy, model=model, formats=formats,
                         select=model_entries(spec) if spec else None, progress=progress)
    ws.audit.append("audit.export", f"export:{path.name}",
                    {"since": since, "until": until, "masked_fields": list(pii),
                     **({"pii_policy": pii_policy} if pii_policy != "mask" else {}),
                     **({"formats": list(formats)} if formats else {}),
                     **({"model": model} if model else {})}, actor=ws.actor(flow_run_id))
    ws.audit.checkpoint(key)
    return ExportResult(path=path, since=since, until=until, masked_fields=pii, model=model,
                        pii_policy=pii_policy, formats=formats)
