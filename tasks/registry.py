"""Registry tasks: register a signed version (accepted or rejected), promote it, audit, emit.

Registration writes every artifact of the version into one signed directory: the model, its
schema, the reference profile for drift monitoring, the search trials, the gate report (JSON
and HTML) and the model card (Markdown and HTML), both with the gate's ``figures`` (name -> SVG, drawn
once by the flow: :func:`usecases.registration.gate_figures`).
Promotion moves the ``champion`` alias; the registry refuses rejected versions. Both are thin
wrappers over the Prefect-free use cases in ``usecases/`` (registration is idempotent on the
candidate's identity; a promotion is checked for key and audit before the swap).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from governance.gate_report import GateReport
from registry.versions import ModelVersion
from tasks.runtime import flow_run_id
from tasks.workspace import Workspace
from usecases.promotion import promote_version
from usecases.registration import register_candidate


# No retries: a late failure is better looked at than retried; a rerun of the flow is safe, since
# registering the same candidate again returns its existing version.
@task(name="register-version", cache_policy=NO_CACHE)
def register(ws: Workspace, *, files: Mapping[str, Path | bytes], lineage: Mapping[str, Any],
             report: GateReport, figures: Mapping[str, str]) -> ModelVersion:
    return register_candidate(ws, files=files, lineage=lineage, report=report, flow_run_id=flow_run_id(),
                              figures=figures)


@task(name="promote-version", cache_policy=NO_CACHE)
def promote(ws: Workspace, version: ModelVersion, *, reason: str) -> None:
    promote_version(ws, version.model, version.version, alias="champion", reason=reason,
                    flow_run_id=flow_run_id())
