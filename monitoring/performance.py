"""Performance over time: the champion's labelled batch predictions against its holdout, per task.

Labels arrive after the scores they judge, so performance is measured on the stored batch scores
that have been matched with labels (:mod:`monitoring.labels`), not on the current window's own
predictions. :func:`measure_performance` gives the numbers the drift rule reads (``auc_drop``) and
the audit records, by the task of the :class:`LabelledScores`: a binary model's ROC AUC (undefined
on one class, so then left out rather than guessed), a regression model's RMSE and MAE, a multiclass
model's accuracy (log loss needs every class's probability, and a batch row keeps only the
predicted class and its probability), each beside the holdout's number of the same name from the
version's metrics. :func:`performance_line` says them in one sentence for the flow's summary and
the Prefect artifact. Only the binary AUC drop is a drift trigger (``DriftPolicy.max_auc_drop``);
the other tasks' numbers are reported.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from monitoring.labels import LabelledScores
from training.metrics import mae, rmse, roc_auc


def measure_performance(labelled: LabelledScores, reference: Mapping[str, float] | None) -> dict[str, float]:
    """``labelled_rows``, and per task the current number with the holdout's beside it when
    ``reference`` (the version's metrics) holds it: binary ``auc_current`` (both classes present),
    ``auc_reference``, ``auc_drop`` (reference minus current); regression ``rmse_current``,
    ``mae_current``, ``rmse_reference``, ``mae_reference``, ``rmse_rise`` (current minus reference);
    multiclass ``accuracy_current``, ``accuracy_reference``, ``accuracy_drop``."""
    known = np.isfinite(labelled.labels) & np.isfinite(labelled.scores)
    labels, scores = labelled.labels[known], labelled.scores[known]
    result = {"labelled_rows": float(known.sum())}
    reference = reference or {}
    if labelled.task == "regression":
        if labels.size:
            result |= {"rmse_current": rmse(labels, scores), "mae_current": mae(labels, scores)}
            for name in ("rmse", "mae"):
                if name in reference:
                    result[f"{name}_reference"] = float(reference[name])
            if "rmse_reference" in result:
                result["rmse_rise"] = result["rmse_current"] - result["rmse_reference"]
        return result
    if labelled.task == "multiclass":
        if labels.size:
            result["accuracy_current"] = float(np.mean(labels == scores))
            if "accuracy" in reference:
                result["accuracy_reference"] = float(reference["accuracy"])
                result["accuracy_drop"] = result["accuracy_reference"] - result["accuracy_current"]
        return result
    auc = float(roc_auc(labels, scores))  # 1-d: a float already
    if not np.isnan(auc):  # both classes present
        result["auc_current"] = auc
        if "auc" in reference:
            result["auc_reference"] = float(reference["auc"])
            result["auc_drop"] = result["auc_reference"] - auc
    return result


def _holdout(p: Mapping[str, float], name: str) -> str:
    return f"{p[name]:.3f}" if name in p else "n/a"


def performance_line(performance: Mapping[str, float] | None) -> str:
    """One sentence on performance, for summaries and artifacts, in the task's own metrics."""
    p = performance
    if p and "rmse_current" in p:
        return (f"RMSE {p['rmse_current']:.4g}, MAE {p['mae_current']:.4g} on {int(p['labelled_rows'])} labelled "
                f"predictions (holdout RMSE {_holdout(p, 'rmse_reference')}, MAE {_holdout(p, 'mae_reference')})")
    if p and "accuracy_current" in p:
        return (f"accuracy {p['accuracy_current']:.3f} on {int(p['labelled_rows'])} labelled predictions "
                f"(holdout {_holdout(p, 'accuracy_reference')})")
    if not p or "auc_current" not in p:
        return "no labels have arrived for the champion's batch scores yet"
    return (f"AUC {p['auc_current']:.3f} on {int(p['labelled_rows'])} labelled scores "
            f"(holdout {p.get('auc_reference', float('nan')):.3f})")
