"""The model card of a registry version: what it is for, what it learnt from, how it was judged.

A :class:`ModelCard` is built from the values the run already decided on, never from a second
computation: the version's signed record (the lineage of :func:`registry.lineage.build_lineage`,
which carries the declared spec's ``intended_use`` and ``limitations``, the data versions, row
counts and label times, the holdout metrics the gate saw, the search and the code), the
:class:`~governance.gate_report.GateReport` (verdict, reasons, and the per-segment checks as the
fairness-style results), and the id of the key that signs the version. :func:`card_sections` lays
it out once as plain text sections; :mod:`governance.model_card_render` writes them as Markdown and
as HTML, so the two renderings cannot say different things. The registry writes both files among
the version's signed files (``model_card.md``, ``model_card.html``), so ``model_signing verify``
covers the card. Plots (name -> SVG) are optional and embedded in the HTML when given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from driftline.errors import InputError
from governance.gate_report import CheckResult, GateReport

NOT_DECLARED = "not declared in the model's spec (set {field} in models/{model}.toml)"


@dataclass(frozen=True)
class Table:
    """A table of text cells; every row is as wide as the header."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if any(len(row) != len(self.header) for row in self.rows):
            raise InputError(f"a card table row is not {len(self.header)} cells wide",
                             hint="build card tables with one cell per header column")


@dataclass(frozen=True)
class Section:
    """One titled part of the card: paragraphs of plain text (``- `` starts a list item), then tables."""

    title: str
    lines: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class ModelCard:
    """The facts of one version's card. ``record`` is the version's signed metadata record
    (lineage plus model, version, status, created_at); ``plots`` maps a plot's name to its SVG."""

    record: Mapping[str, Any]
    report: GateReport
    key_id: str
    plots: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        missing = [k for k in ("model", "version", "status", "created_at") if k not in self.record]
        if missing:
            raise InputError(f"a model card needs the version's record, which lacks {', '.join(missing)}",
                             hint="render the card from the record the registry signs")
        if not self.key_id:
            raise InputError("a model card names the key that signs its version; none was given",
                             hint="pass the signing key's id")
        object.__setattr__(self, "record", MappingProxyType(dict(self.record)))
        object.__setattr__(self, "plots", MappingProxyType(dict(self.plots)))

    @property
    def title(self) -> str:
        return f"Model card: {self.record['model']} v{self.record['version']}"


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _spec_text(card: ModelCard, name: str) -> str:
    spec = card.record.get("model_spec") or {}
    text = spec.get(name) if isinstance(spec, Mapping) else None
    return str(text) if text else NOT_DECLARED.format(field=name, model=card.record["model"])


def segment_checks(report: GateReport) -> tuple[tuple[str, str, CheckResult], ...]:
    """The gate's per-segment checks as (check, segment value, result): the checks the slice
    policies name ``<check>=<value>`` (``auc by plan=basic``, ``residual by region=north``)."""
    out = []
    for check in report.checks:
        name, sep, value = check.name.partition("=")
        if sep and " by " in name:
            out.append((name, value, check))
    return tuple(out)


def _data(card: ModelCard) -> Section:
    data = card.record.get("data") or {}
    versions = data.get("delta_versions") or {}
    first, last = data.get("oldest_label_time"), data.get("newest_label_time")
    lines = (f"- training rows: {_number(data.get('training_rows'))}, holdout rows (the latest label times): "
             f"{_number(data.get('holdout_rows'))}",
             f"- label times: {first or 'n/a'} to {last or 'n/a'}",
             f"- training set fingerprint: {data.get('training_set_sha256', 'n/a')}",
             "- point in time: " + {True: "features as known at each label's time",
                                    False: "features as of each label's event time",
                                    None: "n/a"}[data.get("as_known")])
    table = Table(("feature group", "Delta version"), tuple((g, str(v)) for g, v in sorted(versions.items())))
    return Section("Training data", lines, (table,))


def _metrics(card: ModelCard) -> Section:
    ours = card.record.get("metrics") or {}
    theirs = card.record.get("champion_metrics") or {}
    decision = card.record.get("decision") or {}
    names = sorted(set(ours) | set(theirs))
    table = Table(("metric", "this version", "champion it was compared with"),
                  tuple((n, _number(ours.get(n)), _number(theirs.get(n)) if theirs else "no champion")
                        for n in names))
    lines = [f"Measured on the time holdout; the champion comparison decided on "
             f"{decision.get('metric') or card.report.decision_metric or 'n/a'}."]
    if decision.get("threshold") is not None:
        lines.append(f"- decision threshold (chosen on validation data): {_number(decision['threshold'])}")
    if decision.get("baseline") is not None:
        lines.append(f"- naive baseline (training labels' mean): {_number(decision['baseline'])}")
    if card.plots:
        lines.append("- plots: " + ", ".join(sorted(card.plots)) + " (drawn in model_card.html)")
    return Section("Metrics", tuple(lines), (table,))


def _gate(card: ModelCard) -> Section:
    r = card.report
    lines = [f"- verdict: {r.verdict} ({'all checks passed' if r.passed else 'rejected'})",
             f"- compared with: {r.champion or 'no champion (a first model)'}",
             f"- policy: {r.policy}",
             f"- gate report: gate_report.json, sha256 {r.digest}"]
    lines += [f"- reason: {reason}" for reason in (() if r.passed else r.reasons())]
    return Section("Gate verdict", tuple(lines))


def _segments(card: ModelCard) -> Section:
    rows = tuple((name, value, "pass" if c.passed else "FAIL", _number(c.observed), c.expected, c.detail)
                 for name, value, c in segment_checks(card.report))
    if not rows:
        return Section("Segment results", ("No segment checks ran: the gate's slice_columns name no column.",))
    return Section("Segment results", ("One row per segment value the gate checked on the holdout.",),
                   (Table(("check", "segment", "result", "observed", "expected", "detail"), rows),))


def _lineage(card: ModelCard) -> Section:
    rec = card.record
    code, search = rec.get("code") or {}, rec.get("search") or {}
    dirty = {True: " (with local changes)", False: "", None: ""}[code.get("dirty")]
    lines = (f"- reason: {rec.get('reason', 'n/a')}",
             f"- code: commit {code.get('git_commit') or 'unknown'}{dirty}, driftline "
             f"{code.get('package_version', 'n/a')}",
             f"- search: study {search.get('study', 'n/a')}, {search.get('trials', 'n/a')} trials, best iteration "
             f"{search.get('best_iteration', 'n/a')}, refit rounds {search.get('refit_rounds', 'n/a')}")
    params = Table(("parameter", "value"),
                   tuple((k, _number(v)) for k, v in sorted((search.get("params") or {}).items())))
    libraries = Table(("library", "version"),
                      tuple((k, str(v)) for k, v in sorted((rec.get("libraries") or {}).items())))
    return Section("Lineage", lines, (params, libraries))


def card_sections(card: ModelCard) -> tuple[Section, ...]:
    """The card laid out once, as text; both renderings write exactly these sections."""
    rec = card.record
    head = Section(card.title, (
        f"- status: {rec['status']}", f"- registered: {rec['created_at']}", f"- task: {card.report.task or 'n/a'}",
        f"- signed by key: {card.key_id}",
        f"- check it: python -m flows registry verify {rec['model']} {rec['version']}, or model_signing verify key "
        "VERSION_FOLDER --signature VERSION_FOLDER/model.sig --public_key KEY.pub"))
    return (head,
            Section("Intended use", (_spec_text(card, "intended_use"),)),
            Section("Limitations", (_spec_text(card, "limitations"),)),
            _data(card), _metrics(card), _gate(card), _segments(card), _lineage(card))
