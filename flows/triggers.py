"""The one table of event triggers, shared by every way driftline runs.

Each :class:`Trigger` says: when an event named ``expect`` about a resource matching ``match``
arrives, run flow ``flow`` with parameters rendered from the event. The local runner
(``python -m flows ...``, no server) dispatches emitted events through this table in-process;
``python -m flows serve`` turns it into ``DeploymentEventTrigger``s; and
``deployments/prefect.yaml`` is rendered from it (a test keeps the file and the table equal), so a
trigger cannot mean one thing on a laptop and another on the pool. Imports no Prefect.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DATA_ARRIVED = "driftline.data.arrived"
DATA_INGESTED = "driftline.data.ingested"
DRIFT_DETECTED = "driftline.drift.detected"
MODEL_REGISTERED = "driftline.model.registered"
MODEL_PROMOTED = "driftline.model.promoted"
MODEL_RETRAIN_SKIPPED = "driftline.model.retrain_skipped"  # no trigger: a record for the UI and automations
GATE_DECIDED = "driftline.gate.decided"  # no trigger: the verdict (model, version, reasons) for the UI
APPROVAL_REQUESTED = "driftline.approval.requested"  # no trigger: a passing version waits for a person
APPROVAL_DECIDED = "driftline.approval.decided"  # no trigger: approved or rejected, by whom, why


@dataclass(frozen=True)
class Trigger:
    """Run ``flow`` when ``expect`` arrives about a resource matching ``match`` (glob patterns).

    ``parameters`` maps a flow parameter to a dotted path into the event (``payload.path``,
    ``resource.id``): the same values Prefect's ``{{ event.payload.path }}`` templates give.
    ``description`` is the automation's description in the UI: what fires it and what it runs.
    """

    deployment: str
    flow: str
    expect: str
    match: Mapping[str, str]
    parameters: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def matches(self, event: str, resource: Mapping[str, str]) -> bool:
        if event != self.expect:
            return False
        return all(fnmatch.fnmatchcase(str(resource.get(key, "")), pattern)
                   for key, pattern in self.match.items())

    def render(self, resource: Mapping[str, str], payload: Mapping[str, Any]) -> dict[str, Any]:
        """The flow parameters this event gives (missing paths are an error: a broken trigger)."""
        scope = {"resource": dict(resource), "payload": dict(payload)}
        params: dict[str, Any] = {}
        for name, path in self.parameters.items():
            value: Any = scope
            for part in path.split("."):
                value = value[part]
            params[name] = value
        return params

    def prefect_templates(self) -> dict[str, str]:
        """The parameters as Prefect Jinja templates, for prefect.yaml and ``serve``."""
        return {name: f"{{{{ event.{path} }}}}" for name, path in self.parameters.items()}


TRIGGERS: tuple[Trigger, ...] = (
    # Arrivals announced by the watcher start ingestion; the ingest flow announces the named files
    # it ingests itself (origin "ingest"), and those must not start a second ingestion.
    Trigger(deployment="ingest-on-arrival", flow="ingest", expect=DATA_ARRIVED,
            match={"prefect.resource.id": "driftline.file.*", "driftline.origin": "watcher"},
            parameters={"paths": "payload.paths"},
            description="A drop the landing watcher announced (driftline.data.arrived, origin watcher) is "
                        "ingested: the ingest flow runs on the announced paths."),
    Trigger(deployment="retrain-on-drift", flow="retrain", expect=DRIFT_DETECTED,
            match={"prefect.resource.id": "driftline.model.*"},
            parameters={"model": "payload.model", "idempotency_key": "payload.window_key"},
            description="Drift found by the monitor (driftline.drift.detected) retrains that model; the "
                        "drift window is the idempotency key, so a repeated event trains once."),
    Trigger(deployment="score-on-promotion", flow="score", expect=MODEL_PROMOTED,
            match={"prefect.resource.id": "driftline.model.*"},
            parameters={"model": "payload.model"},
            description="A promoted champion (driftline.model.promoted) scores every entity at once: "
                        "the score flow runs for that model."),
)


def triggers_for(event: str, resource: Mapping[str, str]) -> list[Trigger]:
    return [t for t in TRIGGERS if t.matches(event, resource)]
