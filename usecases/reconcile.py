"""Reconcile the audit trail with the durable facts it should record, at the start of every writer.

A kill -9 between a state change and its audit entry leaves the change without its record: a
Delta commit whose drops were never audited as ``ingest``, a registry version without its
``model.register``, an alias swap without its ``model.promote``/``model.rollback``. The durable
facts are the source of truth: each Delta commit's ``driftline.sources`` metadata, each version's
signed ``metadata.json``, each model's alias history in ``aliases.json``. :func:`reconcile`
appends, for every fact without an entry, the entry that was lost, with ``"recovered": true`` and
what the fact itself tells, then signs a checkpoint. It holds ``state/reconcile.lock`` exclusive
(:mod:`usecases.reconcile_lock`): two starting commands never recover the same fact twice, and
no writer is between its change and its entry (writers hold the lock shared), so a live writer's
entry is never recovered as lost. It reads only what is newer than its watermark
(:mod:`usecases.watermark`), so a start costs O(what is new).

A version that does not verify is not audited as registered (that would launder it): it is
listed in the report's ``unverified`` and left to ``registry verify``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.errors import IntegrityError
from governance.audit import AuditEntry
from usecases.reconcile_lock import DEFAULT_TIMEOUT, reconcile_lock
from usecases.watermark import AuditScan, Watermark, scan_audit

if TYPE_CHECKING:
    from tasks.workspace import Workspace

log = logging.getLogger(__name__)
SOURCES_KEY = "driftline.sources"  # features.store.SOURCES_KEY, not imported: that loads deltalake
PREDICTIONS_GROUP = "predictions"  # tasks.scoring's group; its commits are audited as model.score
# features.served_predictions.SERVED_GROUP: the prediction log audits its commits by counts per N rows
# (serving.prediction_log), so a commit without an entry of its own is not lost and is not recovered.
SERVED_GROUP = "served_predictions"
ALIAS_ACTIONS = {"promote": "model.promote", "rollback": "model.rollback", "set": "model.alias"}
WATERMARK_FILE = "reconcile.json"


@dataclass(frozen=True)
class ReconcileReport:
    """What one reconcile found and recorded; ``recovered`` entries were appended, marked so."""

    drops: int
    scores: int
    versions: int
    alias_changes: int
    unverified: tuple[str, ...]
    audit_entries_scanned: int
    full_scan: bool

    @property
    def recovered(self) -> int:
        return self.drops + self.scores + self.versions + self.alias_changes


@dataclass(frozen=True)
class _Lost:
    action: str
    subject: str
    details: dict[str, Any]


def reconcile(ws: "Workspace", *, lock_timeout: float = DEFAULT_TIMEOUT) -> ReconcileReport:
    """Give every committed drop, version and alias change its audit entry; see the module doc.
    Waits up to ``lock_timeout`` seconds for running writers, then raises ``LockTimeout``."""
    state = ws.home.state
    with reconcile_lock(state, timeout=lock_timeout):
        return _reconcile(ws, state / WATERMARK_FILE)


def _reconcile(ws: "Workspace", path: Path) -> ReconcileReport:
    mark = Watermark.load(path)
    scan = scan_audit(ws.audit.log_path, mark.audit)
    if scan.full:
        mark = Watermark()  # the audit trail does not continue from the mark: trust none of it
    lost: list[_Lost] = []
    groups = _drops(ws, scan, mark, lost)
    versions, alias_changes, unverified = _registry(ws, scan, mark, lost)
    if lost:
        actor = ws.actor()
        for item in lost:
            ws.audit.append(item.action, item.subject, item.details, actor=actor)
            log.warning("reconcile: recovered %s %s", item.action, item.subject)
        ws.audit.checkpoint(ws.signing_key())
    Watermark(audit=scan.start, groups=groups, versions=versions, alias_changes=alias_changes).save(path)
    count = Counter(item.action for item in lost)
    return ReconcileReport(drops=count["ingest"], scores=count["model.score"], versions=count["model.register"],
                           alias_changes=sum(count[a] for a in ALIAS_ACTIONS.values()),
                           unverified=tuple(unverified), audit_entries_scanned=len(scan.entries),
                           full_scan=scan.full)


def _drops(ws: "Workspace", scan: AuditScan, mark: Watermark, lost: list[_Lost]) -> dict[str, int]:
    """Every drop in a Delta commit newer than the mark has an ``ingest`` entry (scores: ``model.score``)."""
    store_root = ws.home.store
    tables = sorted(p.name for p in store_root.iterdir() if (p / "_delta_log").is_dir()) if store_root.is_dir() else []
    if not tables:
        return {}
    from deltalake import DeltaTable

    audited = {(e.subject, e.details.get("sha256")) for e in scan.entries if e.action == "ingest"}
    scored = {e.details.get("delta_version") for e in scan.entries
              if e.action == "model.score" and e.details.get("group") == PREDICTIONS_GROUP}
    reached: dict[str, int] = {}
    for group in tables:
        table = DeltaTable(str(store_root / group))
        current, done = table.version(), mark.groups.get(group, -1)
        reached[group] = current
        if current <= done or group == SERVED_GROUP:
            continue
        for commit in sorted(table.history(limit=current - done), key=lambda c: int(c["version"])):
            version = int(commit["version"])
            if version <= done or SOURCES_KEY not in commit:
                continue
            sources = json.loads(commit[SOURCES_KEY])
            rows = (commit.get("operationMetrics") or {}).get("num_added_rows")
            if group == PREDICTIONS_GROUP:
                if version not in scored:
                    lost.append(_Lost("model.score", f"group:{group}", {
                        "recovered": True, "group": group, "delta_version": version, "rows": rows,
                        "sources": sources}))
                continue
            for sha in sources:
                if (f"group:{group}", sha) not in audited:
                    lost.append(_Lost("ingest", f"group:{group}", {
                        "recovered": True, "sha256": sha, "status": "stored", "delta_version": version,
                        "commit_sources": len(sources), "commit_rows_added": rows}))
    return reached


def _registry(ws: "Workspace", scan: AuditScan, mark: Watermark,
              lost: list[_Lost]) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Every version newer than the mark has ``model.register``; every alias change its entry."""
    registry = ws.registry
    registered = {e.subject for e in scan.entries if e.action == "model.register"}
    moved = Counter(_alias_key(e) for e in scan.entries if e.action in ALIAS_ACTIONS.values())
    versions: dict[str, int] = {}
    changes: dict[str, int] = {}
    unverified: list[str] = []
    for model in registry.models():
        numbers = _numbers(registry.root / model)
        versions[model] = numbers[-1] if numbers else 0
        for number in (n for n in numbers if n > mark.versions.get(model, 0)):
            subject = f"model:{model}:v{number}"
            if subject in registered:
                continue
            try:
                registry.verify(model, number)
            except IntegrityError as exc:
                unverified.append(f"{model} v{number}: {exc}")
                continue
            v = registry.get(model, number)
            meta = v.metadata
            lost.append(_Lost("model.register", subject, {
                "recovered": True, "status": v.status, "key_id": v.key_id, "created_at": v.created_at,
                "metrics": _plain(meta.get("metrics", {})),
                "delta_versions": _plain((meta.get("data") or {}).get("delta_versions", {})),
                "gate_report_sha256": meta.get("gate_report_sha256")}))
        history = registry.alias_history(model)
        changes[model] = len(history)
        for change in history[mark.alias_changes.get(model, 0):]:
            action = ALIAS_ACTIONS[change.action]
            key = (action, model, change.alias, change.from_version, change.to_version)
            if moved[key] > 0:
                moved[key] -= 1
                continue
            lost.append(_Lost(action, f"model:{model}:v{change.to_version}", {
                "recovered": True, "alias": change.alias, "from": change.from_version, "to": change.to_version,
                "reason": change.reason, "by": change.actor, "at": change.at}))
    return versions, changes, unverified


def _alias_key(entry: AuditEntry) -> tuple[str, str, Any, Any, Any]:
    model = entry.subject.split(":")[1] if entry.subject.count(":") >= 2 else ""
    d = entry.details
    return entry.action, model, d.get("alias"), d.get("from"), d.get("to")


def _numbers(folder: Path) -> list[int]:
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())


def _plain(value: Any) -> Any:
    """Read-only mappings of a version's metadata as plain JSON for the audit entry."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    return value
