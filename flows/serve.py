"""The deployments of driftline: one table, rendered two ways.

:data:`DEPLOYMENTS` names, for every flow of ``flows.catalog``, its cron schedule (if any); its
event triggers come from ``flows.triggers.TRIGGERS``, the table local mode dispatches through.
:func:`render_prefect_yaml` turns the table into ``deployments/prefect.yaml`` (for
``prefect deploy --all`` onto the ``driftline-pool`` process work pool; a test keeps the committed
file equal to the rendering) and :func:`serve_all` into ``flow.to_deployment(...)`` objects served
from one process by ``python -m flows serve``. Flow parameters from events are Prefect Jinja
templates (``Trigger.prefect_templates``); no deployment sets ``home``: flows read the data home
from ``DRIFTLINE_HOME`` in the worker's (or server's) environment. Prefect is imported only by
:func:`serve_all`, so rendering the YAML is instant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from driftline.errors import ConfigError
from flows.catalog import FLOWS
from flows.triggers import TRIGGERS, Trigger

POOL = "driftline-pool"
TIMEZONE = "UTC"
YAML_HEADER = (
    "# Rendered from flows/serve.py (DEPLOYMENTS) and flows/triggers.py (TRIGGERS) by\n"
    "#   python -m flows deployments render --write\n"
    "# Do not edit by hand: tests/flows/test_prefect_yaml.py fails when this file and the tables differ.\n"
    "# Deploy from the repository root: prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml\n"
    "# The flows read the data home from DRIFTLINE_HOME in the worker's environment.\n")


@dataclass(frozen=True)
class Deployment:
    """One Prefect deployment of flow ``flow`` (named like the flow), with an optional cron."""

    flow: str
    description: str
    cron: str | None = None

    @property
    def name(self) -> str:
        return self.flow

    @property
    def entrypoint(self) -> str:
        return FLOWS[self.flow]

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return tuple(t for t in TRIGGERS if t.flow == self.flow)


DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment("ingest", "Ingest drops announced by the landing watcher (driftline.data.arrived), and hourly "
               "every drop still waiting (one whose run was cancelled or crashed).", cron="30 * * * *"),
    Deployment("monitor", "Hourly drift check of the champion against the current window.", cron="0 * * * *"),
    Deployment("retrain", "Retrain after drift (driftline.drift.detected) and weekly.", cron="0 3 * * 1"),
    Deployment("score", "Batch scoring after a promotion (driftline.model.promoted) and daily.", cron="0 5 * * *"),
    Deployment("audit-export", "Monthly signed compliance export of the audit trail.", cron="0 6 1 * *"),
    Deployment("train", "Train on demand (no schedule): prefect deployment run train/train."),
    Deployment("search-worker", "Extra trials of a training run's Optuna study (started by train/retrain)."),
)


def _trigger_spec(trigger: Trigger) -> dict[str, object]:
    # Prefect's schema for an event trigger; `name` carries the trigger table's own name so the
    # automation shown in the UI is the row of flows/triggers.py that made it.
    return {
        "type": "event",
        "name": trigger.deployment,
        "enabled": True,
        "match": dict(trigger.match),
        "expect": [trigger.expect],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
        "parameters": trigger.prefect_templates(),
    }


def render_document(deployments: Sequence[Deployment] = DEPLOYMENTS) -> dict[str, object]:
    """The prefect.yaml document as plain data (what the test and the YAML are made of)."""
    specs = []
    for d in deployments:
        spec: dict[str, object] = {
            "name": d.name,
            "description": d.description,
            "entrypoint": d.entrypoint,
            "tags": ["driftline"],
            "work_pool": {"name": POOL, "work_queue_name": "default"},
            "schedules": [{"cron": d.cron, "timezone": TIMEZONE, "active": True}] if d.cron else [],
            "triggers": [_trigger_spec(t) for t in d.triggers],
        }
        specs.append(spec)
    return {
        "name": "driftline",
        "prefect-version": "3.9.1",
        # Workers run the flows from the repository checkout; DRIFTLINE_REPO is read by the
        # worker when a run starts, so one prefect.yaml serves every host of the pool.
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $DRIFTLINE_REPO }}"}}],
        "deployments": specs,
    }


def render_prefect_yaml(deployments: Sequence[Deployment] = DEPLOYMENTS) -> str:
    """The text of deployments/prefect.yaml, byte-for-byte stable for the same tables."""
    body = yaml.safe_dump(render_document(deployments), sort_keys=False, default_flow_style=False, width=100)
    return YAML_HEADER + body


def _to_deployment(d: Deployment) -> object:
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron

    from flows.catalog import load_flow

    triggers = [DeploymentEventTrigger(
        name=t.deployment, match=dict(t.match), expect={t.expect}, posture="Reactive", threshold=1,
        within=0, parameters=t.prefect_templates()) for t in d.triggers]
    schedules = [Cron(d.cron, timezone=TIMEZONE)] if d.cron else []
    return load_flow(d.flow).to_deployment(
        name=d.name, description=d.description, tags=["driftline", "served"], schedules=schedules,
        triggers=triggers)


def require_api_url() -> str:
    """The configured Prefect server, or a one-line error: serving needs a real server."""
    from prefect.settings import PREFECT_API_URL

    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if not url:
        raise ConfigError("PREFECT_API_URL is not set: serving deployments needs a Prefect server",
                          hint="start one (python deployments/pool.py start) and export PREFECT_API_URL")
    return str(url)


def serve_all(deployments: Sequence[Deployment] = DEPLOYMENTS, *, limit: int | None = None) -> None:
    """Serve every deployment from this process until interrupted (Prefect's ``serve``)."""
    require_api_url()
    from prefect import serve

    serve(*[_to_deployment(d) for d in deployments], limit=limit, print_starting_message=True)
