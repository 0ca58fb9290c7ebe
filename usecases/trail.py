"""Audit-trail upkeep as use cases: sign a checkpoint, cut a torn last line.

``audit checkpoint`` signs the entries written with the signing key since the last checkpoint
(the audit log refuses any entry after its anchor that the active key did not MAC). ``audit
repair-tail`` cuts a torn last line off either file, which the log records as an entry, and
signs a checkpoint over it. The CLI only prints what these return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.audit_entry import AuditEntry
    from governance.checkpoints import Checkpoint
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class TailRepair:
    """The entries recording each cut (empty: neither file ended in a torn line, nothing written)."""

    cuts: tuple["AuditEntry", ...]


def checkpoint_trail(ws: "Workspace") -> "Checkpoint":
    """Sign the current head of the audit trail with the active key."""
    return ws.audit.checkpoint(ws.signing_key())


def repair_tail(ws: "Workspace") -> TailRepair:
    """Cut a torn last line (an append or checkpoint cut off mid-write), record it, checkpoint."""
    cuts = ws.audit.repair_torn_tail(actor=ws.actor())
    if cuts:
        ws.audit.checkpoint(ws.signing_key())
    return TailRepair(cuts=tuple(cuts))
