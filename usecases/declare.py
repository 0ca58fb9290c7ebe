"""Declaring a model, audited: ``train --model NAME --group G --label COL`` on first use.

:func:`declare_model` reads the declared spec, or makes it from the flags
(:func:`usecases.models.declare_on_first_use`); a spec made now is recorded in the audit trail as
``model.declare`` (subject ``model:NAME``: the spec, the sha256 of its canonical JSON, its file)
before the file is put in place, then a checkpoint is signed. A kill between the entry and the file
leaves the entry alone; the next run declares and records again, so no spec file exists that the
trail does not name. The CLI calls this before Prefect starts; it writes nothing for a declared spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from usecases.models import ModelSpec, declaration, declare_on_first_use, models_folder

if TYPE_CHECKING:
    from tasks.workspace import Workspace


def declare_model(ws: "Workspace", name: str, *, group: str | None = None, label: str | None = None,
                  task: str | None = None, features: Sequence[str] = (), exclude: Sequence[str] = (),
                  budget_s: float | None = None, trials: int | None = None,
                  positive: str | None = None) -> tuple[ModelSpec, bool, Path]:
    """The model's spec, whether it was declared now, and its file's path (see the module doc)."""
    folder = models_folder(ws.settings)

    def record(spec: ModelSpec, path: Path) -> None:
        ws.audit.append("model.declare", f"model:{spec.name}", declaration(spec, path), actor=ws.actor())

    spec, created = declare_on_first_use(folder, ws.contracts, name, group=group, label=label, task=task,
                                         features=features, exclude=exclude, budget_s=budget_s, trials=trials,
                                         positive=positive, record=record)
    if created:
        ws.audit.checkpoint(ws.signing_key())  # the declaration is signed before anything trains on it
    return spec, created, folder / f"{spec.name}.toml"
