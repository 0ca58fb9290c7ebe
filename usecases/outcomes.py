"""The typed result of a training run, in a module with no heavy imports.

``flows/train.py`` names :class:`TrainOutcome` in its flows' signatures, and loading that module
must import no LightGBM, Optuna or scikit-learn (a flow-run process loads it before the run is
RUNNING and before a duplicate retrain event is skipped). So the outcome lives here, apart from
:mod:`usecases.train`, which builds it; both the flow module and the training steps import it from
here, which is what ended the import cycle between ``flows/train.py`` and ``flows/training_run.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainOutcome:
    """What one training run produced: the registered version and the gate's verdict on it.

    ``champion_*`` describe the champion the candidate was compared with (None for a first model);
    ``gate_report`` is the path of the HTML report under ``reports/``.
    """

    model: str
    version: int
    status: str
    promoted: bool
    metrics: dict[str, float]
    champion_version: int | None
    champion_metrics: dict[str, float] | None
    reasons: tuple[str, ...]
    training_rows: int
    holdout_rows: int
    gate_report: str
    positive: str | None = None  # a binary model's class 1 when its label is not 0/1 or true/false
    # a person's decision where the signed spec asks for one: "pending" (local mode: decide with
    # `registry approve`), "approved" or "rejected"; None when none was asked (or the gate rejected)
    approval: str | None = None


@dataclass(frozen=True)
class RetrainSkipped:
    """A retrain that trained (or registered) nothing, and why: its training set or model held
    nothing new over ``champion_version`` (see :mod:`usecases.retrain`)."""

    model: str
    reason: str
    champion_version: int | None
    training_set_sha256: str
