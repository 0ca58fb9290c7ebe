"""Champion against challenger on live traffic, from the served table: the use case behind ``serving compare``.

:func:`compare_served` reads the model's rows of ``store/served_predictions`` received in
``[since, until)`` (by default the ``window_days`` ending at the newest served row). The champion's
side is what was returned as champion (or pinned); the challenger's is every row scored by the
challenger alias. A **shadow** challenger scored the same requests: its rows are paired with the
champion's by request id, row and received time, and the agreement rate is measured on the pairs -
binary: the same decision, each at its own version's threshold (the stored ``decision`` where the
server wrote one); multiclass: the same class; regression: ``|difference| <= tolerance`` (by default
5% of the standard deviation of the champion's predictions in the window). A **canary** answered
other requests of the same window: there are no pairs, so agreement is None and the two sides are
compared as distributions. Either way: quantiles of each side's scores and the PSI (and KS D) of the
challenger's against the champion's, computed by the drift monitor's own statistics; and, once labels
have arrived, each side's performance, with labels matched to served rows as the monitor matches them
(:func:`usecases.monitor.label_events`, :func:`monitoring.labels.match_labels`; binary models only).

The result is a typed :class:`ServingComparison`; an escaped HTML report is written under ``reports/``
(atomically, before the entry that names it), and a ``serving.compare`` audit entry records the numbers,
the report's file name and its sha256, then a checkpoint is signed. **As evidence for the next gate**:
the entry is part of the signed, hash-chained trail, so a promotion of the challenger cites it by its
sequence number and hash (``registry promote NAME V --reason "serving.compare #<seq> <hash>"``); anyone
checks it with ``audit verify`` and checks the report against the recorded sha256.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from driftline.atomic import write_atomic
from driftline.canonical import sha256_hex
from driftline.errors import InputError, IntegrityError, NotFoundError
from features.contracts import FeatureGroupContract
from features.predictions import DECISION, EVENT_TIME, MODEL, MODEL_VERSION, PREDICTED_CLASS, SCORE
from features.served_predictions import (PREDICTION, RECEIVED_AT, REQUEST_ID, RETURNED, ROLE, ROW, SERVED_GROUP)
from features.store import FeatureStore
from governance.actor import Actor
from governance.audit import AuditLog
from monitoring.labels import match_labels
from monitoring.performance import measure_performance
from monitoring.profile import build_profile, finite_values
from monitoring.statistics import compare_numeric
from monitoring.windows import window_bounds
from training.metrics import binary_logloss, brier
from usecases.monitor import label_events
from usecases.serving_compare_html import render_comparison_html

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
PAIR = [REQUEST_ID, ROW, RECEIVED_AT]


@dataclass(frozen=True)
class SideSummary:
    """One side of the comparison: its versions, rows, score quantiles at :data:`LEVELS`, mean, and
    performance on labelled rows (``labelled_rows``, ``auc_current``, ``logloss``, ``brier``) or None."""

    versions: tuple[int, ...]
    rows: int
    quantiles: tuple[float, ...]
    mean: float | None
    performance: Mapping[str, float] | None


@dataclass(frozen=True)
class ServingComparison:
    """Champion against challenger over ``[since, until)``; ``mode`` is shadow, canary or both."""

    model: str
    mode: str
    task: str
    since: datetime
    until: datetime
    champion: SideSummary
    challenger: SideSummary
    paired_rows: int
    agreement: float | None
    agreement_rule: str
    psi: float
    ks: float | None
    report: Path
    report_sha256: str

    def summary(self) -> dict[str, Any]:
        """The numbers as plain JSON values (the audit entry's details, less the report)."""
        data = asdict(self)
        data.update(since=self.since.isoformat(), until=self.until.isoformat(), report=self.report.name)
        return data


def check_report(details: Mapping[str, Any], reports: Path) -> Path:
    """The report a ``serving.compare`` entry names, checked against the sha256 the entry records
    (the entry itself is checked by ``audit verify``); :class:`IntegrityError` when it differs."""
    name = str(details.get("report", ""))
    path = reports / name
    if not name or "/" in name or name.startswith(".") or not path.is_file():
        raise NotFoundError(f"the comparison report {name!r} is not in {reports}",
                            hint="run `python -m flows serving compare` again to write a new one")
    if sha256_hex(path.read_bytes()) != details.get("report_sha256"):
        raise IntegrityError(f"comparison report {path} does not match the sha256 its audit entry records",
                             hint="the report was changed after it was written; do not cite it, compare again")
    return path


def _quantiles(scores: np.ndarray) -> tuple[float, ...]:
    return tuple(float(q) for q in np.quantile(scores, LEVELS)) if scores.size else ()


def _task(rows: pl.DataFrame) -> str:
    def held(column: str) -> bool:
        return column in rows.columns and rows[column].null_count() < rows.height

    # A binary model of a yes/no label logs its predicted_class too: its decision says binary first.
    if held(DECISION):
        return "binary"
    if held(PREDICTED_CLASS):
        return "multiclass"
    if held(PREDICTION):
        return "regression"
    return "binary"


def _decisions(rows: pl.DataFrame, threshold_of: Callable[[int], float | None]) -> pl.Expr:
    """Each row's decision: the stored one, else its score against its own version's threshold."""
    cuts = {v: threshold_of(v) for v in rows[MODEL_VERSION].unique().to_list()}
    cut = pl.col(MODEL_VERSION).replace_strict(list(cuts), [0.5 if c is None else c for c in cuts.values()],
                                               return_dtype=pl.Float64)
    computed = (pl.col(SCORE) >= cut).cast(pl.Int64)
    return pl.coalesce(pl.col(DECISION), computed) if DECISION in rows.columns else computed


def _agreement(champion: pl.DataFrame, shadow: pl.DataFrame, task: str, tolerance: float | None,
               threshold_of: Callable[[int], float | None]) -> tuple[int, float | None, str]:
    if task == "multiclass":
        rule, expr = "same predicted class", pl.col(PREDICTED_CLASS).cast(pl.String)
    elif task == "regression":
        spread = float(np.std(champion[SCORE].cast(pl.Float64).to_numpy(), ddof=1)) if champion.height > 1 else 0.0
        tolerance = tolerance if tolerance is not None else max(0.05 * spread, 1e-9)
        rule, expr = f"|difference| <= {tolerance:.6g}", pl.col(SCORE)
    else:
        rule, expr = "same decision at each version's threshold", None
    if expr is None:
        left = champion.select(*PAIR, _decisions(champion, threshold_of).alias("v"))
        right = shadow.select(*PAIR, _decisions(shadow, threshold_of).alias("v"))
    else:
        left, right = champion.select(*PAIR, expr.alias("v")), shadow.select(*PAIR, expr.alias("v"))
    pairs = left.join(right, on=PAIR, how="inner", suffix="_c")
    if pairs.is_empty():
        return 0, None, rule
    diff = (pl.col("v") - pl.col("v_c")).abs()
    same = diff <= tolerance if task == "regression" else pl.col("v") == pl.col("v_c")
    return pairs.height, float(pairs.select(same.cast(pl.Float64).mean()).item()), rule


def _performance(rows: pl.DataFrame, labels: pl.DataFrame | None, keys: Sequence[str],
                 horizon: timedelta) -> dict[str, float] | None:
    if labels is None or any(k not in rows.columns for k in keys):
        return None
    scores = rows.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys)).select(
        *keys, pl.col(RECEIVED_AT).alias(EVENT_TIME), SCORE)
    labelled = match_labels(scores, labels, keys=keys, horizon=horizon)
    if labelled is None:
        return None
    result = measure_performance(labelled, None)
    known = np.isfinite(labelled.labels) & np.isfinite(labelled.scores)
    if known.any():
        y, p = labelled.labels[known], np.clip(labelled.scores[known], 0.0, 1.0)
        result.update(logloss=float(binary_logloss(y, p)), brier=float(brier(y, p)))
    return result


def _side(rows: pl.DataFrame, labels: pl.DataFrame | None, keys: Sequence[str], horizon: timedelta) -> SideSummary:
    scores = rows[SCORE].cast(pl.Float64).drop_nulls().to_numpy()
    return SideSummary(versions=tuple(sorted(rows[MODEL_VERSION].unique().to_list())), rows=rows.height,
                       quantiles=_quantiles(scores), mean=float(scores.mean()) if scores.size else None,
                       performance=_performance(rows, labels, keys, horizon))


def compare_served(store: FeatureStore, model: str, *, reports: Path, audit: AuditLog, actor: Actor,
                   since: datetime | None = None, until: datetime | None = None, window_days: int = 30,
                   tolerance: float | None = None, threshold_of: Callable[[int], float | None] = lambda v: None,
                   label_contract: FeatureGroupContract | None = None, label: str | None = None,
                   classes: tuple[Any, ...] = (), horizon: timedelta = timedelta(days=30),
                   sign: Callable[[], Any] | None = None) -> ServingComparison:
    """Compare ``model``'s champion and challenger on the served rows of the window; see the module doc.
    ``threshold_of(version)`` gives a binary version's decision threshold; ``label_contract`` and
    ``label`` (with the binary ``classes``) the labels to match; ``sign`` a signer for the checkpoint."""
    if tolerance is not None and not (np.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance {tolerance!r}", hint="give a regression tolerance of 0 or more")
    # A lazy scan: only the model's rows of the window are read, however large the served table grew.
    served = store.scan(SERVED_GROUP).filter(pl.col(MODEL) == model) if SERVED_GROUP in store.groups() else None
    newest = None if served is None else served.select(pl.col(RECEIVED_AT).max()).collect().item()
    if newest is None:
        raise NotFoundError(f"the server has logged nothing for model {model!r} in store/{SERVED_GROUP}",
                            hint=f"serve it with a challenger: predict-server --model {model} "
                                 f"--shadow {model}@challenger (or --canary {model}@challenger=10)")
    assert isinstance(newest, datetime) and served is not None
    start, end = window_bounds(newest, window_days, since=since, until=until)
    rows = served.filter((pl.col(RECEIVED_AT) >= start) & (pl.col(RECEIVED_AT) < end)).collect()
    champion = rows.filter(pl.col(ROLE).is_in(["champion", "pinned"]) & pl.col(RETURNED))
    challenger = rows.filter(pl.col(ROLE) == "challenger")
    if champion.is_empty() or challenger.is_empty():
        missing = "champion" if champion.is_empty() else "challenger"
        raise NotFoundError(f"no {missing} rows of {model!r} were served in [{start.isoformat()}, {end.isoformat()})",
                            hint="widen the window (--since/--until), or serve a challenger with --shadow or --canary")
    shadow = challenger.filter(~pl.col(RETURNED))
    mode = "+".join(m for m, part in (("shadow", shadow), ("canary", challenger.filter(pl.col(RETURNED))))
                    if not part.is_empty())
    task = _task(rows)
    paired, agreement, rule = _agreement(champion, shadow, task, tolerance, threshold_of)
    reference = build_profile(pl.DataFrame({SCORE: champion[SCORE].cast(pl.Float64)}), numeric=[SCORE],
                              categorical=[]).features[SCORE]
    drift = compare_numeric(SCORE, "prediction", reference,  # type: ignore[arg-type]
                            *finite_values(challenger[SCORE].cast(pl.Float64), name=SCORE))
    keys = label_contract.entity_keys if label_contract else ()
    labels = None
    if label_contract is not None and task == "binary" and label_contract.name in store.groups():
        labels = label_events(store, label_contract, label or label_contract.label or "", classes)
    # The name is data: only its safe characters reach a file name (no separator, no dot-dot).
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", model)
    html_path = reports / f"serving-compare-{slug}-{end:%Y%m%dT%H%M%S}.html"
    result = ServingComparison(model=model, mode=mode, task=task, since=start, until=end,
                               champion=_side(champion, labels, keys, horizon),
                               challenger=_side(challenger, labels, keys, horizon), paired_rows=paired,
                               agreement=agreement, agreement_rule=rule, psi=drift.psi, ks=drift.statistic,
                               report=html_path, report_sha256="")
    page = render_comparison_html(result).encode()
    digest = sha256_hex(page)
    write_atomic(html_path, page, staged="compare.report.staged", replaced="compare.report.replaced")
    result = ServingComparison(**{**result.__dict__, "report_sha256": digest})
    audit.append("serving.compare", f"model:{model}", result.summary(), actor=actor)
    if sign is not None:
        audit.checkpoint(sign())
    return result

