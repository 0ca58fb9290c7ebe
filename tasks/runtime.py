"""What a task needs to know about the Prefect run it is in: the flow run id (for the audit
actor) and a logger that also works outside a run (the tasks are plain callables in unit tests).
"""

from __future__ import annotations

import logging

from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger


def flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx is not None and ctx.flow_run is not None else None


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("driftline")
