"""The flows driftline runs, by name, as import strings (``module:function``).

Names are what users type (``python -m flows run monitor``) and what the trigger table and
``prefect.yaml`` refer to; the strings are Prefect entrypoints, imported only when a flow runs, so
listing flows costs no Prefect import.
"""

from __future__ import annotations

import importlib
from typing import Any, TypeAlias, TypeVar

from pydantic.json_schema import SkipJsonSchema

from driftline.errors import InputError

# A flow parameter for local mode only (``home``): a deployment's run reads the data home from
# DRIFTLINE_HOME in the worker's environment, so the parameter is left out of the schema Prefect
# builds for the deployment (no field in the UI's run form, nothing to mistype), while
# ``python -m flows`` and tests still pass it to the flow function.
_T = TypeVar("_T")
LocalOnly: TypeAlias = SkipJsonSchema[_T]

FLOWS: dict[str, str] = {
    "ingest": "flows/ingest.py:ingest_flow",
    "train": "flows/train.py:train_flow",
    "retrain": "flows/train.py:retrain_flow",
    "search-worker": "flows/search_worker.py:search_worker_flow",
    "monitor": "flows/monitor.py:monitor_flow",
    "score": "flows/score.py:score_flow",
    "audit-export": "flows/audit_export.py:audit_export_flow",
    "enforce-retention": "flows/retention.py:enforce_retention_flow",
}


def load_flow(name: str) -> Any:
    """Import and return the flow object called ``name``."""
    try:
        entrypoint = FLOWS[name]
    except KeyError:
        raise InputError(f"unknown flow {name!r}", hint=f"choose one of {', '.join(FLOWS)}") from None
    path, attr = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, attr)
