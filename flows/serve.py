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
from usecases.models import DEMO_SPEC, ModelSpec

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
    """One Prefect deployment of flow ``flow`` (named like the flow), with an optional cron.

    A ``per_model`` deployment's cron runs once for every declared model, each schedule passing
    ``model``; a spec's own ``schedule`` replaces the retrain cron for that model.
    """

    flow: str
    description: str
    cron: str | None = None
    per_model: bool = False

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
    Deployment("monitor", "Hourly drift check of each declared model's champion against the current window.",
               cron="0 * * * *", per_model=True),
    Deployment("retrain", "Retrain after drift (driftline.drift.detected) and weekly, or on the model spec's "
               "schedule.", cron="0 3 * * 1", per_model=True),
    Deployment("score", "Batch scoring after a promotion (driftline.model.promoted) and daily.", cron="0 5 * * *",
               per_model=True),
    Deployment("audit-export", "Monthly signed compliance export of the audit trail.", cron="0 6 1 * *"),
    Deployment("enforce-retention", "Daily deletion (and vacuum) of rows past their group's retention_days.",
               cron="0 2 * * *"),
    Deployment("train", "Train on demand (no schedule): prefect deployment run train/train."),
    Deployment("search-worker", "Extra trials of a training run's Optuna study (started by train/retrain)."),
)


@dataclass(frozen=True)
class Schedule:
    """One cron of a deployment; ``model`` is passed as the flow's parameter when set."""

    cron: str
    model: str | None = None

    @property
    def parameters(self) -> dict[str, str]:
        return {"model": self.model} if self.model else {}

    @property
    def slug(self) -> str | None:
        return None if self.model is None else f"model-{self.model}"


def schedules(d: Deployment, specs: Sequence[ModelSpec]) -> list[Schedule]:
    """The deployment's crons: one, or one per declared model (retrain on the spec's own cron)."""
    if not d.per_model:
        return [Schedule(d.cron)] if d.cron else []
    out = []
    for spec in specs:
        cron = spec.schedule if d.flow == "retrain" and spec.schedule else d.cron
        if cron:
            out.append(Schedule(cron, spec.name))
    return out


def _schedule_spec(s: Schedule) -> dict[str, object]:
    spec: dict[str, object] = {"cron": s.cron, "timezone": TIMEZONE, "active": True}
    if s.model:
        spec.update(slug=s.slug, parameters=s.parameters)
    return spec


def _trigger_spec(trigger: Trigger) -> dict[str, object]:
    # Prefect's schema for an event trigger; `name` carries the trigger table's own name so the
    # automation shown in the UI is the row of flows/triggers.py that made it.
    return {
        "type": "event",
        "name": trigger.deployment,
        "description": trigger.description,
        "enabled": True,
        "match": dict(trigger.match),
        "expect": [trigger.expect],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
        "parameters": trigger.prefect_templates(),
    }


def render_document(deployments: Sequence[Deployment] = DEPLOYMENTS,
                    models: Sequence[ModelSpec] = (DEMO_SPEC,)) -> dict[str, object]:
    """The prefect.yaml document as plain data (what the test and the YAML are made of), with the
    schedules of the declared ``models`` (the committed file: the demo's model)."""
    specs = []
    for d in deployments:
        spec: dict[str, object] = {
            "name": d.name,
            "description": d.description,
            "entrypoint": d.entrypoint,
            "tags": ["driftline"],
            "work_pool": {"name": POOL, "work_queue_name": "default"},
            "schedules": [_schedule_spec(s) for s in schedules(d, models)],
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


def render_prefect_yaml(deployments: Sequence[Deployment] = DEPLOYMENTS,
                        models: Sequence[ModelSpec] = (DEMO_SPEC,)) -> str:
    """The text of deployments/prefect.yaml, byte-for-byte stable for the same tables."""
    body = yaml.safe_dump(render_document(deployments, models), sort_keys=False, default_flow_style=False, width=100)
    return YAML_HEADER + body


def _to_deployment(d: Deployment, specs: Sequence[ModelSpec]) -> object:
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron

    from flows.catalog import load_flow

    triggers = [DeploymentEventTrigger(
        name=t.deployment, description=t.description, match=dict(t.match), expect={t.expect}, posture="Reactive",
        threshold=1, within=0, parameters=t.prefect_templates()) for t in d.triggers]
    crons = [Cron(s.cron, timezone=TIMEZONE, parameters=s.parameters, slug=s.slug) for s in schedules(d, specs)]
    return load_flow(d.flow).to_deployment(
        name=d.name, description=d.description, tags=["driftline", "served"], schedules=crons,
        triggers=triggers)


def require_api_url() -> str:
    """The configured Prefect server, or a one-line error: serving needs a real server."""
    from prefect.settings import PREFECT_API_URL

    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if not url:
        raise ConfigError("PREFECT_API_URL is not set: serving deployments needs a Prefect server",
                          hint="start one (python deployments/pool.py start) and export PREFECT_API_URL")
    return str(url)


def serve_all(deployments: Sequence[Deployment] = DEPLOYMENTS, *, limit: int | None = None,
              specs: Sequence[ModelSpec] | None = None) -> None:
    """Serve every deployment from this process until interrupted (Prefect's ``serve``), scheduled
    for ``specs`` (default every model declared in the data home of the settings)."""
    require_api_url()
    from prefect import serve

    if specs is None:
        from driftline.settings import load_settings
        from usecases.models import declared_models, models_folder

        specs = declared_models(models_folder(load_settings()))
    serve(*[_to_deployment(d, specs) for d in deployments], limit=limit, print_starting_message=True)
