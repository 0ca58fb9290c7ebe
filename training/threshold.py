"""The decision threshold of a binary model, chosen on validation data the final model never saw.

The final model is fit on every training row, so its own scores on those rows are optimistic, and
the gate's holdout must not choose what it then judges. :func:`validation_threshold` therefore
splits the training frame in time as the search does (the latest ``fraction`` of times validate),
fits the search's best parameters on the earlier part for the search's best round count, scores the
validation part and returns :func:`training.metrics.choose_threshold` of those scores (F1 at its
best, ties to the highest cut). The threshold is stored in the model's schema and its lineage, and
batch scoring decides with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from driftline.errors import TrainingError
from training.metrics import choose_threshold
from training.model import fit_final
from training.split import time_holdout


def validation_threshold(frame: pl.DataFrame, *, features: Sequence[str], categorical: Sequence[str],
                         label: str, time_column: str, params: Mapping[str, Any], num_boost_round: int,
                         seed: int, n_threads: int, device: str = "cpu", fraction: float = 0.2,
                         positive: Any = None) -> float:
    """The F1-best threshold of a model fit like the final one on the earlier part of ``frame``,
    chosen on its latest ``fraction`` of times."""
    fit_part, valid = time_holdout(frame, time_column, fraction)
    model = fit_final(fit_part, features=features, categorical=categorical, label=label, task="binary",
                      params=params, num_boost_round=num_boost_round, seed=seed, n_threads=n_threads,
                      device=device, positive=positive)
    y_valid = model.schema.labels(valid, label)
    if len(np.unique(y_valid)) < 2:
        # One class only: every cut gives F1 0 (or 1); nothing is learnt about where to decide.
        raise TrainingError(f"the validation part ({valid.height} rows) holds one label class only",
                            hint="use more history, or a larger validation fraction")
    return choose_threshold(y_valid, model.predict(valid))
