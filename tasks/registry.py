"""Registry tasks: register a signed version (accepted or rejected), promote it, audit, emit.

Registration writes every artifact of the version into one signed directory: the model, its
schema, the reference profile for drift monitoring, the search trials, and the gate report (JSON
and HTML). Promotion moves the ``champion`` alias; the registry refuses rejected versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from driftline.atomic import write_atomic
from governance.gate_report import GateReport
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id
from tasks.workspace import Workspace


# No retries: registering is not idempotent (a retry after a late failure would add a second
# version of the same candidate); the registry's own writes are atomic, so a failure leaves none.
@task(name="register-version", cache_policy=NO_CACHE)
def register(ws: Workspace, *, files: Mapping[str, Path | bytes], lineage: Mapping[str, Any],
             report: GateReport) -> ModelVersion:
    model = ws.settings.model_name
    status = "accepted" if report.passed else "rejected"
    html = report.to_html().encode()
    version = ws.registry.register(model, files={**files, "gate_report.json": report.to_json(),
                                                 "gate_report.html": html},
                                   metadata=lineage, status=status, key=ws.signing_key())
    write_atomic(ws.home.reports / f"gate-{model}-v{version.version}.html", html)
    ws.audit.append("model.register", f"model:{model}:v{version.version}", {
        "status": status, "key_id": version.key_id, "metrics": dict(lineage.get("metrics", {})),
        "delta_versions": dict(lineage["data"]["delta_versions"]),
        "gate_report_sha256": report.digest}, actor=ws.actor(flow_run_id()))
    return version


@task(name="promote-version", cache_policy=NO_CACHE)
def promote(ws: Workspace, version: ModelVersion, *, reason: str) -> None:
    actor = ws.actor(flow_run_id())
    change = ws.registry.promote(version.model, version.version, alias="champion",
                                 actor=actor.user, reason=reason)
    ws.audit.append("model.promote", f"model:{version.model}:v{version.version}", {
        "alias": "champion", "from": change.from_version, "to": version.version, "reason": reason},
        actor=actor)
