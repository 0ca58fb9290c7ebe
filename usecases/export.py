"""Compliance export as a use case, behind both the ``audit export`` command and the ``audit-export`` flow.

PII-tagged contract columns are passed to the exporter with one action each
(:func:`governance.export_pii.resolve_actions`): a column's declared ``pii = "drop"|"mask"|"hash"``
is kept, ``pii_policy`` (``--pii``) is the action of columns tagged ``pii = true`` (``mask`` when not
given) and tightens, never loosens, a declared one; so a value of such a column never leaves in an
audit entry's details, and the manifest records each column's action. The bundle is written whole or not at all
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
from governance.export_pii import DEFAULT_ACTION, HASH_KEY_INFO, HASH_KEY_SALT, PiiPolicy, resolve_actions
from governance.report_pdf import PdfResult, html_to_pdf
from usecases.models import ModelSpec, models_folder, resolve_spec

if TYPE_CHECKING:
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class ExportResult:
    """The bundle written, the range it covers, the PII fields treated in it and each one's action
    (``pii_policy`` is the export's default for columns tagged without a policy)."""

    path: Path
    since: str | None
    until: str | None
    masked_fields: tuple[str, ...]
    model: str | None = None
    pii_policy: str = "mask"
    formats: tuple[str, ...] = ()
    pii_actions: tuple[tuple[str, str], ...] = ()
    report_note: str = ""  # which PDF of the model report was made, or why none


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
                 model: str | None = None, pii_policy: str | None = None,
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
    actions = resolve_actions(((c, p) for contract in ws.contracts.values()
                               for c, p in contract.pii_policies.items()), pii_policy)
    pii = tuple(actions)
    # The keyed hash's key is derived inside the signing key and never written: only the holder
    # of the signing key can recompute (or test guesses against) a hashed identifier.
    hash_key = key.derive_secret(HASH_KEY_SALT, HASH_KEY_INFO) if "hash" in actions.values() else None
    policy = PiiPolicy.of(actions, hash_key)
    made: list[PdfResult] = []

    def pdf(page: bytes) -> PdfResult:
        made.append(html_to_pdf(page) if ws.settings.report_pdf else
                    PdfResult(None, None, "No PDF: turned off (DRIFTLINE_REPORT_PDF=false)."))
        return made[-1]
    path = export_bundle(target, audit=ws.audit, registry_root=ws.home.registry, public_keys=public_keys,
                         signer=key, since=since, until=until, pii=policy, model=model, formats=formats,
                         pdf=pdf, select=model_entries(spec) if spec else None, progress=progress)
    ws.audit.append("audit.export", f"export:{path.name}",
                    {"since": since, "until": until, "masked_fields": list(pii),
                     **({"pii_policy": pii_policy} if pii_policy not in (None, DEFAULT_ACTION) else {}),
                     # pairs, not a mapping: a column's name as a key would itself be treated as PII
                     **({"pii_actions": [[c, a] for c, a in actions.items()]}
                        if set(actions.values()) - {DEFAULT_ACTION} else {}),
                     **({"formats": list(formats)} if formats else {}),
                     **({"model": model} if model else {})}, actor=ws.actor(flow_run_id))
    ws.audit.checkpoint(key)
    return ExportResult(path=path, since=since, until=until, masked_fields=pii, model=model,
                        pii_policy=pii_policy or DEFAULT_ACTION, formats=formats,
                        pii_actions=tuple(actions.items()), report_note=made[0].note if made else "")
