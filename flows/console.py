"""What Prefect prints on the terminal of a local command.

Without ``--verbose`` the CLI owns error reporting: a failed flow ends in exactly one line from
the CLI's error edge, so Prefect's own console records of the failure (with their tracebacks)
are held back. Warnings, such as quarantined rows, still show. Everything still reaches Prefect's
API log handler, so the UI keeps the full record, tracebacks included.
"""

from __future__ import annotations

import logging

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.flows", "prefect.engine",
               "prefect.flow_engine", "prefect.task_engine")


class CliOwnsErrors(logging.Filter):
    """Drop run-failure records and strip tracebacks from console output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.name.startswith(RUN_LOGGERS):
            return False
        record.exc_info = None
        record.exc_text = None
        return True


def quiet_console() -> None:
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not any(
                isinstance(f, CliOwnsErrors) for f in handler.filters):
            handler.addFilter(CliOwnsErrors())
