"""The one place the Python API starts Prefect: :meth:`driftline_api.Home.train` runs the ``train``
flow here, in this process, through :func:`flows.local.run_local` (Prefect's temporary server,
started on first use and stopped when the process ends; no deployment, no worker).

Imported only when ``train`` is called, so opening a home, ingesting, predicting, monitoring and
listing never import Prefect (``tests/api/test_no_prefect.py``). Before Prefect is first imported,
its telemetry is switched off and OpenMP threads told to sleep rather than spin, as the command
line does (``flows/cli_runs.py``); both only where the caller's environment says nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from driftline.errors import InputError
from driftline.progress import Progress
from usecases.outcomes import TrainOutcome


def run_train_flow(home: str, model: str, reason: str, overrides: Mapping[str, Any],
                   progress: Progress | None = None) -> TrainOutcome:
    """The ``train`` flow's outcome for ``model`` on ``home`` with the settings ``overrides``;
    ``progress`` gets the search's trials through the channel the command's bars use
    (:mod:`tasks.progress`: the flow runs in this process, in this context)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    from flows.local import run_local

    from tasks.progress import showing_bars

    channel = showing_bars(lambda label: contextlib.nullcontext(progress)) if progress is not None \
        else contextlib.nullcontext()
    try:
        with channel:
            run = run_local("train", home=home, overrides=dict(overrides), model=model, reason=reason)
    except (ParameterTypeError, SignatureMismatchError) as exc:
        raise InputError(f"the train flow got invalid parameters: {' '.join(str(exc).split())}",
                         hint="check the arguments of home.train()") from exc
    return run.result_as(TrainOutcome)
