"""Local mode: run a flow in this process (Prefect's temporary server, no deployment) and then
dispatch the events it emitted through the trigger table, as a server's triggers would.

Events emitted by a dispatched flow are dispatched in turn (drift -> retrain -> promotion ->
scoring), up to a bound that stops a trigger loop from running forever.

Settings reach every flow of the run as parameters: ``home`` and ``overrides`` (the CLI's flags,
merged over the ``DRIFTLINE_*`` environment by ``Workspace.open``) go to the first flow and to
every dispatched one alike, so nothing is written into this process's environment. Pool workers
still read theirs from the environment; a deployment's run leaves ``overrides`` empty.

The result is typed (:class:`LocalRun`): the first flow's result plus the runs its events started.
Against the temporary server or the shared local server, flow runs send no heartbeats
(:func:`local_settings`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Union

from flows.catalog import load_flow
from flows.events import local_bus
from flows.triggers import triggers_for

if TYPE_CHECKING:  # the flows' result types import Prefect or pyarrow: named, not loaded, here
    from features.ingest import IngestReport
    from usecases.monitor import MonitorResult
    from flows.score import ScoreOutcome
    from usecases.outcomes import RetrainSkipped, TrainOutcome

MAX_DISPATCHES = 20
R = TypeVar("R")

# What a catalog flow returns: ingest a list of reports, train/retrain an outcome (retrain None for a
# duplicate event, RetrainSkipped when nothing was new), monitor and score their outcomes, audit-export
# the bundle's path.
FlowResult = Union["list[IngestReport]", "TrainOutcome", "RetrainSkipped", "MonitorResult", "ScoreOutcome", str,
                   None]


@dataclass(frozen=True)
class Dispatched:
    """One flow run started by an event in local mode."""

    event: str
    deployment: str
    flow: str
    parameters: dict[str, Any]
    result: FlowResult


@dataclass(frozen=True)
class LocalRun:
    """One local-mode command: the named flow's result and, in order, the runs its events started
    (and the runs theirs started, up to :data:`MAX_DISPATCHES`)."""

    flow: str
    result: FlowResult
    dispatched: tuple[Dispatched, ...] = ()

    def result_as(self, kind: type[R]) -> R:
        """The result as the type the flow returns (``TrainOutcome`` for train, ``list`` for ingest)."""
        return expect(self.result, kind, self.flow)

    def results_of(self, *flows: str) -> list[FlowResult]:
        """The non-empty results of the dispatched runs of ``flows`` (a skipped retrain gives None)."""
        return [d.result for d in self.dispatched if d.flow in flows and d.result is not None]


def expect(value: object, kind: type[R], flow: str) -> R:
    """``value`` as ``kind``; another type is a bug in the flow or its caller, not a user's error."""
    if not isinstance(value, kind):
        raise TypeError(f"flow {flow!r} returned {type(value).__name__}, expected {kind.__name__}")
    return value


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
    """Prefect settings for flows run against the temporary server (no ``PREFECT_API_URL``) or the
    data home's shared local server (``DRIFTLINE_LOCAL_API_URL``, set by ``flows.local_server``): no
    heartbeats (:func:`without_heartbeats`), as nobody watches a local run for a crash. Against
    a real server, Prefect's default stays."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    local = not url or url == os.environ.get("DRIFTLINE_LOCAL_API_URL")
    with without_heartbeats() if local else contextlib.nullcontext():
        yield


def run_local(name: str, *, home: str | None = None, overrides: Mapping[str, Any] | None = None,
              on_dispatch: Callable[[Dispatched], None] | None = None, **parameters: Any) -> LocalRun:
    """Run flow ``name`` with ``parameters``, then every flow its events trigger, each on data home
    ``home`` with the settings ``overrides`` (e.g. ``{"training": {"n_trials": 5}}``)."""
    settings = {"home": home, "overrides": dict(overrides) if overrides else None}
    dispatched: list[Dispatched] = []
    with local_settings(), local_bus() as bus:
        result = load_flow(name)(**settings, **parameters)
        while (queued := bus.pop()) is not None and len(dispatched) < MAX_DISPATCHES:
            for trigger in triggers_for(queued.event, queued.resource):
                params = trigger.render(queued.resource, queued.payload)
                outcome = load_flow(trigger.flow)(**settings, **params)
                record = Dispatched(queued.event, trigger.deployment, trigger.flow, params, outcome)
                dispatched.append(record)
                if on_dispatch is not None:
                    on_dispatch(record)
    return LocalRun(name, result, tuple(dispatched))
