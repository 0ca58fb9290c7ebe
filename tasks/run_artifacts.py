"""What a training run shows in the Prefect UI: search progress, the trials table, the lineage.

The tables are built by plain functions (:func:`trials_table`, :func:`lineage_markdown`) that a
test calls on three trials; the ``publish_*`` functions and :class:`SearchProgress` only hand them
to Prefect's artifact API. Artifacts are keyed by model (``optuna-trials-churn``,
``lineage-churn``), so the UI's Artifacts page keeps one history per model, each version a row
whose description names the model and version. Nothing here decides anything: a failed artifact
call would fail the task, which is why every input is already computed when it is published.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from prefect.artifacts import (create_markdown_artifact, create_progress_artifact, create_table_artifact,
                               update_progress_artifact)

from training.search import SearchResult, TrialRecord

DIGITS = 4  # a metric shown to 4 decimals: differences between trials below that are noise
_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def artifact_key(kind: str, model: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only: ``optuna-trials-churn``."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{kind}-{model}".lower()).strip("-")


def _rounded(value: Any) -> Any:
    return round(value, DIGITS) if isinstance(value, float) else value


def best_trial(result: SearchResult) -> TrialRecord | None:
    """The completed trial with the best value in the study's direction (None: nothing completed)."""
    done = [t for t in result.trials if t.state == "COMPLETE" and t.value is not None]
    if not done:
        return None
    pick = max if result.direction == "maximize" else min
    return pick(done, key=lambda t: (t.value, -t.number))  # ties: the earlier trial, as Optuna does


def trials_table(result: SearchResult) -> list[dict[str, Any]]:
    """One row per trial: completed trials best first, then pruned, failed and unfinished ones by
    number. The best is marked; only completed trials show a score (a pruned trial's value is
    its last intermediate report, not a comparable result), rounded to :data:`DIGITS`."""
    best = best_trial(result)
    sign = -1.0 if result.direction == "maximize" else 1.0

    def order(t: TrialRecord) -> tuple[int, float, int]:
        scored = t.state == "COMPLETE" and t.value is not None
        return (_ORDER.get(t.state, 5), sign * t.value if scored else 0.0, t.number)  # type: ignore[operator]

    rows = []
    for t in sorted(result.trials, key=order):
        rows.append({
            "best": "best" if best is not None and t.number == best.number else "",
            "trial": t.number, "state": t.state.lower(),
            result.metric: _rounded(t.value) if t.state == "COMPLETE" else None,
            # a shared study can hold another process's trial still running: no duration yet
            "seconds": round(t.duration_s, 2) if t.duration_s is not None else None,
            **{k: _rounded(v) for k, v in sorted(t.params.items())}})
    return rows


def publish_trials(result: SearchResult, *, model: str, version: int | None) -> UUID:
    """The trials table, described with the model and the version it produced (None: registered
    nothing, e.g. a retrain whose model equalled the champion's)."""
    best = best_trial(result)
    made = f"{model} v{version}" if version is not None else f"{model} (no version registered)"
    summary = (f"best {result.metric} {best.value:.{DIGITS}f} (trial {best.number})"
               if best is not None and best.value is not None else "no completed trial")
    return create_table_artifact(
        key=artifact_key("optuna-trials", model), table=trials_table(result),
        description=f"Optuna trials of {made}, study {result.study_name}: {len(result.trials)} trials "
                    f"({result.n_pruned} pruned, scores left out), {summary}")


class SearchProgress:
    """A progress artifact for one search: trials finished against the budget, best so far.

    Given to ``run_search`` as its ``on_trial`` callback. It counts the trials this process
    finishes (``already`` those the caller knows the study held), so a resumed study's bar may end
    short of 100%: the budget was met partly by earlier runs.
    """

    def __init__(self, *, model: str, study: str, budget: int, direction: str, metric: str,
                 already: int = 0) -> None:
        self.model, self.study, self.budget, self.metric = model, study, max(budget, 1), metric
        self.direction = direction
        self.done = already
        self.best: float | None = None
        self.artifact_id = create_progress_artifact(
            self.percent, key=artifact_key("search-progress", model), description=self.describe())

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.done / self.budget)

    def describe(self) -> str:
        best = f"best {self.metric} {self.best:.{DIGITS}f}" if self.best is not None else "no completed trial yet"
        return f"Search of {self.model} (study {self.study}): {self.done}/{self.budget} trials, {best}"

    def __call__(self, trial: TrialRecord) -> None:
        self.done += 1
        if trial.state == "COMPLETE" and trial.value is not None:
            better = (self.best is None or (trial.value > self.best if self.direction == "maximize"
                                            else trial.value < self.best))
            if better:
                self.best = trial.value
        update_progress_artifact(self.artifact_id, self.percent, description=self.describe())


def lineage_markdown(model: str, version: int, lineage: Mapping[str, Any], *, status: str,
                     champion_before: int | None, champion_after: int | None,
                     reasons: Sequence[str] = ()) -> str:
    """The version's lineage as the UI shows it: where it came from and what it changed."""
    data = lineage.get("data", {})
    code = lineage.get("code", {})
    search = lineage.get("search", {})
    fmt = lambda v: f"v{v}" if v is not None else "none"  # noqa: E731 - a one-line formatter
    lines = [f"# Lineage of {model} v{version} ({status})", "",
             f"- **reason**: {lineage.get('reason', '')}",
             f"- **champion before**: {fmt(champion_before)}; **after**: {fmt(champion_after)}",
             f"- **training set sha256**: `{data.get('training_set_sha256', '')}`",
             f"- **commit**: `{code.get('git_commit') or 'unknown'}`" + (" (dirty)" if code.get("dirty") else ""),
             f"- **study**: {search.get('study', '')}, {search.get('trials', '')} trials", "",
             "| group | Delta version |", "|---|---|"]
    lines += [f"| {g} | {v} |" for g, v in sorted(data.get("delta_versions", {}).items())]
    lines += ["", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {_rounded(v)} |" for k, v in sorted(search.get("params", {}).items())]
    if reasons:
        lines += ["", "Gate reasons:", *[f"- {r}" for r in reasons]]
    return "\n".join(lines) + "\n"


def publish_lineage(model: str, version: int, lineage: Mapping[str, Any], *, status: str,
                    champion_before: int | None, champion_after: int | None,
                    reasons: Sequence[str] = ()) -> UUID:
    return create_markdown_artifact(
        key=artifact_key("lineage", model),
        markdown=lineage_markdown(model, version, lineage, status=status, champion_before=champion_before,
                                  champion_after=champion_after, reasons=reasons),
        description=f"Lineage of {model} v{version} ({status})")
