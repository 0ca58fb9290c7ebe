"""Local mode: run a flow in this process (Prefect's temporary server, no deployment) and then
dispatch the events it emitted through the trigger table, as a server's triggers would.

Events emitted by a dispatched flow are dispatched in turn (drift -> retrain -> promotion ->
scoring), up to a bound that stops a trigger loop from running forever.

Against the temporary server, flow runs send no heartbeats (:func:`local_settings`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flows.catalog import load_flow
from flows.events import local_bus
from flows.triggers import triggers_for

MAX_DISPATCHES = 20


@dataclass(frozen=True)
class Dispatched:
    """One flow run started by an event in local mode."""

    event: str
    deployment: str
    flow: str
    parameters: dict[str, Any]
    result: Any


@contextlib.contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs send no heartbeats. A heartbeat tells a server that a run is alive, so that a
    crashed one can be marked as such; Prefect joins the heartbeat thread when a run ends, and the
    thread sleeps in one-second steps, so every flow run took up to a second longer (about a second
    for a short one, measured)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@contextlib.contextmanager
def local_settings() -> Iterator[None]:
    """Prefect settings for flows run against the temporary server (no ``PREFECT_API_URL``): no
    heartbeats (:func:`without_heartbeats`), as the server stops with this process and nobody would
    read them. Against a real server, Prefect's default stays."""
    from prefect.settings import PREFECT_API_URL

    with contextlib.nullcontext() if PREFECT_API_URL.value() else without_heartbeats():
        yield


def run_local(name: str, *, home: str | None = None, on_dispatch: Callable[[Dispatched], None] | None = None,
              **parameters: Any) -> tuple[Any, list[Dispatched]]:
    """Run flow ``name`` with ``parameters``, then every flow its events trigger."""
    dispatched: list[Dispatched] = []
    with local_settings(), local_bus() as bus:
        result = load_flow(name)(home=home, **parameters)
        while (queued := bus.pop()) is not None and len(dispatched) < MAX_DISPATCHES:
            for trigger in triggers_for(queued.event, queued.resource):
                params = trigger.render(queued.resource, queued.payload)
                outcome = load_flow(trigger.flow)(home=home, **params)
                record = Dispatched(queued.event, trigger.deployment, trigger.flow, params, outcome)
                dispatched.append(record)
                if on_dispatch is not None:
                    on_dispatch(record)
    return result, dispatched
