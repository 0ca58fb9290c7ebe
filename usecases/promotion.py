"""Promote or roll back an alias with no state change lacking its record.

Before the swap, prove the change can be signed and audited: load the signing key (no passphrase
raises :class:`KeyMaterialError` with nothing changed) and probe the audit trail for an append
(its lock, its log opened for append, an intact tail). Then reconcile what earlier crashes left
unrecorded, swap, append the entry under the model's lock (an append that still fails writes the
previous aliases back, see ``ModelRegistry.set_alias``), and checkpoint. The swap and its entry
happen under the reconcile lock held shared (:mod:`usecases.reconcile_lock`), so a reconcile
starting meanwhile waits instead of recording the swap a second time. Promoting the version an
alias already points at changes nothing and writes nothing, so a rerun after a crash is safe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from driftline.errors import AuditUnwritableError, LockTimeout
from usecases.reconcile import reconcile
from usecases.reconcile_lock import writer_lock

if TYPE_CHECKING:
    from governance.audit import AuditLog
    from governance.actor import Actor
    from registry.aliases import AliasChange
    from registry.keys import SigningKey
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class AliasMove:
    """The outcome of a promotion or rollback: ``changed`` is False when the alias already pointed there."""

    model: str
    alias: str
    from_version: int | None
    to_version: int
    changed: bool


def probe_audit(audit: "AuditLog", *, timeout: float = 60.0) -> None:
    """Raise :class:`AuditUnwritableError` unless an append to ``audit`` can go through now."""
    where = audit.root
    try:
        where.mkdir(parents=True, exist_ok=True)
        with FileLock(str(where / ".audit.lock"), timeout=timeout):
            fd = os.open(audit.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.close(fd)
    except Timeout:
        raise LockTimeout(f"audit lock in {where} held for over {timeout:g}s",
                          hint="another driftline process is writing the audit trail; retry") from None
    except OSError as exc:
        raise AuditUnwritableError(
            f"the audit trail {audit.log_path} cannot be appended to ({exc.strerror or exc})",
            hint=f"make {where} a writable folder and {audit.log_path.name} a writable file; nothing was changed"
        ) from None
    audit.head()  # a torn or damaged tail refuses appends: find out before changing anything


def promote_version(ws: "Workspace", model: str, version: int, *, alias: str = "champion",
                    reason: str, flow_run_id: str | None = None) -> AliasMove:
    """Point ``alias`` at ``version`` (accepted and verifying), audited and checkpointed."""
    key, actor = _preflight(ws, flow_run_id)
    current = ws.registry.alias(model, alias)
    if current == version:
        return AliasMove(model, alias, current, version, changed=False)

    def record(change: "AliasChange") -> None:
        ws.audit.append("model.promote", f"model:{model}:v{version}", {
            "alias": alias, "from": change.from_version, "to": version, "reason": reason}, actor=actor)

    with writer_lock(ws.home.state):
        change = ws.registry.promote(model, version, alias=alias, actor=actor.user, reason=reason, record=record)
    ws.audit.checkpoint(key)
    return AliasMove(model, alias, change.from_version, change.to_version, changed=True)


def rollback_alias(ws: "Workspace", model: str, *, alias: str = "champion", reason: str,
                   flow_run_id: str | None = None) -> AliasMove:
    """Point ``alias`` back at its previous accepted, verifying version, audited and checkpointed."""
    key, actor = _preflight(ws, flow_run_id)

    def record(change: "AliasChange") -> None:
        ws.audit.append("model.rollback", f"model:{model}:v{change.to_version}", {
            "alias": alias, "from": change.from_version, "to": change.to_version, "reason": reason}, actor=actor)

    with writer_lock(ws.home.state):
        change = ws.registry.rollback(model, alias=alias, actor=actor.user, reason=reason, record=record)
    ws.audit.checkpoint(key)
    return AliasMove(model, alias, change.from_version, change.to_version, changed=True)


def _preflight(ws: "Workspace", flow_run_id: str | None) -> tuple[SigningKey, Actor]:
    key = ws.signing_key()  # KeyMaterialError here: nothing has changed yet
    probe_audit(ws.audit)
    reconcile(ws)  # before, never inside, the shared lock of the swap: it takes that lock exclusive
    return key, ws.actor(flow_run_id)
