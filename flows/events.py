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


def resource(kind: str, name: str, *, title: str | None = None, **labels: str) -> dict[str, str]:
    """A Prefect resource naming a driftline object: ``driftline.<kind>.<name>``.

    ``prefect.resource.name`` is what the UI's event cards show, so it is the readable ``title``
    when one is given ("churn v3", a file's name), else the name. The id stays ``<kind>.<name>``:
    the trigger table matches on it, whatever the version.
    """
    return {"prefect.resource.id": f"driftline.{kind}.{name}", "prefect.resource.name": title or name,
            **{f"driftline.{k}": str(v) for k, v in labels.items()}}


def model_resource(model: str, version: int | None = None) -> dict[str, str]:
    """A model, or one version of it, titled as people say it: ``churn v3``."""
    if version is None:
        return resource("model", model, title=f"model {model}")
    return resource("model", model, title=f"{model} v{version}", version=str(version))


def group_resource(group: str, delta_version: int) -> dict[str, str]:
    """A feature group at one Delta version: ``customer_activity (Delta v4)``."""
    return resource("group", group, title=f"{group} (Delta v{delta_version})", version=str(delta_version))


def emit(event: str, res: Mapping[str, str], payload: Mapping[str, Any]) -> None:
    """Emit to Prefect, and queue for in-process dispatch when a local bus is open."""
    emit_event(event=event, resource=dict(res), payload=dict(payload))
    bus = _ACTIVE_BUS.get()
    if bus is not None:
        bus.queue.append(QueuedEvent(event, dict(res), dict(payload)))
