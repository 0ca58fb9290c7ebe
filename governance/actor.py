"""Who acted: the actor recorded in every audit entry.

An :class:`Actor` names the user, the host and, when the action ran inside a Prefect flow run, that
run's id, so that an auditor can go from an entry to the run that made it. Governance never
imports Prefect: the flow edge passes ``flow_run_id`` explicitly, and :func:`current_actor` falls
back to the ``PREFECT__FLOW_RUN_ID`` variable that Prefect's process workers set for their runs.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from typing import Any

from driftline.errors import InputError


@dataclass(frozen=True)
class Actor:
    """One acting person or process. Round-trip law: ``Actor(**a.to_dict()) == a``."""

    user: str
    host: str
    flow_run_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("user", "host"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"actor {name} {value!r} is empty", hint="name who acts, e.g. DRIFTLINE_ACTOR")
        if self.flow_run_id is not None and (not isinstance(self.flow_run_id, str) or not self.flow_run_id):
            raise InputError(f"actor flow_run_id {self.flow_run_id!r} must be a non-empty string or None")

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "host": self.host, "flow_run_id": self.flow_run_id}


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers: fall back to the uid
        return f"uid:{os.getuid()}"


def current_actor(*, user: str | None = None, flow_run_id: str | None = None) -> Actor:
    """The actor of this process: ``user`` (e.g. settings.actor) or the OS user, on this host."""
    run_id = flow_run_id or os.environ.get("PREFECT__FLOW_RUN_ID") or None
    return Actor(user=user or _os_user(), host=socket.gethostname() or "unknown-host", flow_run_id=run_id)
