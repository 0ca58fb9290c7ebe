"""Emitting driftline's Prefect events, and the in-process bus of local mode.

Every event goes to Prefect (``emit_event``), so the UI shows it and, with a server, deployment
triggers fire on it. Without a server nothing would react, so the local runner opens a
:class:`LocalBus` for the duration of a command: events emitted meanwhile are queued and then
dispatched through the same trigger table the deployments use (``flows.triggers``). The bus is
found through a ``ContextVar``, so nothing is global and nested runners do not interfere.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prefect.events import emit_event


_ACTIVE_BUS: contextvars.ContextVar["LocalBus | None"] = contextvars.ContextVar("driftline_local_bus", default=None)


@dataclass(frozen=True)
class QueuedEvent:
    event: str
    resource: Mapping[str, str]
    payload: Mapping[str, Any]


@dataclass
class LocalBus:
    """Events emitted while this bus is open, waiting for the local runner to dispatch them."""

    queue: list[QueuedEvent] = field(default_factory=list)

    def pop(self) -> QueuedEvent | None:
        return self.queue.pop(0) if self.queue else None


@contextlib.contextmanager
def local_bus() -> Iterator[LocalBus]:
    bus = LocalBus()
    token = _ACTIVE_BUS.set(bus)
    try:
        yield bus
    finally:
        _ACTIVE_BUS.reset(token)


def resource(kind: str, name: str, **labels: str) -> dict[str, str]:
    """A Prefect resource naming a driftline object: ``driftline.<kind>.<name>``."""
    return {"prefect.resource.id": f"driftline.{kind}.{name}", "prefect.resource.name": name,
            **{f"driftline.{k}": str(v) for k, v in labels.items()}}


def emit(event: str, res: Mapping[str, str], payload: Mapping[str, Any]) -> None:
    """Emit to Prefect, and queue for in-process dispatch when a local bus is open."""
    emit_event(event=event, resource=dict(res), payload=dict(payload))
    bus = _ACTIVE_BUS.get()
    if bus is not None:
        bus.queue.append(QueuedEvent(event, dict(res), dict(payload)))
