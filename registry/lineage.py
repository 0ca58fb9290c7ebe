"""Lineage: where a model version came from, recorded in its signed metadata.

:func:`build_lineage` gathers what an auditor or a re-run needs: the Delta version of every group
read and the training set's fingerprint (so the exact rows can be rebuilt by time travel), the
code version (git commit when the code runs from a checkout, and the package version), the search
(parameters, best iteration, trial count), metrics, the gate report's digest, and the versions of
the libraries that shape the model bytes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("driftline", "lightgbm", "optuna", "numpy", "polars", "duckdb", "deltalake", "scikit-learn")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version(source: Path | None = None) -> dict[str, str | bool | None]:
    """The git commit of the code's checkout (None outside one) and whether it had local changes."""
    where = source or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=5, check=True).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "dirty": None}
    return {"git_commit": commit, "dirty": dirty}


def build_lineage(*, data_versions: Mapping[str, int], training_set_sha256: str, training_rows: int,
                  holdout_rows: int, params: Mapping[str, Any], best_iteration: int, refit_rounds: int, study: str,
                  trials: int, metrics: Mapping[str, float], champion_metrics: Mapping[str, float] | None,
                  gate_report_sha256: str, reason: str,
                  model_spec: Mapping[str, Any] | None = None, newest_label_time: str | None = None,
                  as_known: bool | None = None, oldest_label_time: str | None = None) -> dict[str, Any]:
    # The declared model spec (usecases.models) rides in the signed metadata, so a version says
    # what it was declared to learn and how it was to be judged; absent for versions made before specs.
    spec = {"model_spec": dict(model_spec)} if model_spec is not None else {}
    # newest_label_time and as_known are recorded when known: a retrain compares the former with its
    # own newest label (usecases.retrain), the latter says which point-in-time mode built the rows;
    # oldest_label_time opens the training data's time range the model card shows.
    extra = {k: v for k, v in (("oldest_label_time", oldest_label_time), ("newest_label_time", newest_label_time),
                               ("as_known", as_known)) if v is not None}
    return {
        "reason": reason,
        "data": {"delta_versions": dict(sorted(data_versions.items())),
                 "training_set_sha256": training_set_sha256,
                 "training_rows": training_rows, "holdout_rows": holdout_rows, **extra},
        "code": {**code_version(), "package_version": library_versions()["driftline"]},
        "search": {"study": study, "trials": trials, "best_iteration": best_iteration,
                   "refit_rounds": refit_rounds, "params": dict(params)},
        "metrics": dict(metrics),
        "champion_metrics": dict(champion_metrics) if champion_metrics is not None else None,
        "gate_report_sha256": gate_report_sha256,
        "libraries": library_versions(),
        **spec,
    }
