"""Performance over time: ROC AUC of the champion's labelled batch scores against its holdout AUC.

Labels arrive after the scores they judge, so performance is measured on the stored batch scores
that have been matched with labels (:mod:`monitoring.labels`), not on the current window's own
predictions. :func:`measure_performance` gives the numbers the drift rule reads (``auc_drop``) and
the audit records; :func:`performance_line` says them in one sentence for the flow's summary and
the Prefect artifact. AUC is undefined on one class, so it is then left out rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from monitoring.labels import LabelledScores
from training.metrics import roc_auc


def measure_performance(labelled: LabelledScores, reference: Mapping[str, float] | None) -> dict[str, float]:
    """``labelled_rows``, and when both classes are present ``auc_current``; with a reference AUC
    also ``auc_reference`` and ``auc_drop`` (reference minus current)."""
    known = np.isfinite(labelled.labels) & np.isfinite(labelled.scores)
    result = {"labelled_rows": float(known.sum())}
    auc = float(roc_auc(labelled.labels[known], labelled.scores[known]))  # 1-d: a float already
    if not np.isnan(auc):  # both classes present
        result["auc_current"] = auc
        if reference is not None and "auc" in reference:
            result["auc_reference"] = float(reference["auc"])
            result["auc_drop"] = result["auc_reference"] - auc
    return result


def performance_line(performance: Mapping[str, float] | None) -> str:
    """One sentence on performance, for summaries and artifacts."""
    p = performance
    if not p or "auc_current" not in p:
        return "no labels have arrived for the champion's batch scores yet"
    return (f"AUC {p['auc_current']:.3f} on {int(p['labelled_rows'])} labelled scores "
            f"(holdout {p.get('auc_reference', float('nan')):.3f})")
