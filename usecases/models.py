"""Declared models: a model is a small spec file, ``<home>/models/NAME.toml``, not a set of settings.

A :class:`ModelSpec` names what one registry model learns from (its label group and column, its
feature groups, the columns never used as features), how it is judged (task, metric, gate and drift
overrides), how hard it searches (holdout, budget, trials), when it retrains (a cron) and what its model card
says it is for (``intended_use``, ``limitations``: free text, optional). The
constructor validates what a spec can know alone; :func:`check_against_contracts` what needs the
data home's contracts. ``train --model NAME --group G --label COL`` makes the spec on first use
(:func:`spec_from_flags`, :func:`save_spec`) and every flow reads it after (:func:`resolve_spec`,
:func:`spec_settings`). The demo's model is :data:`DEMO_SPEC`, in force when no file declares
``churn``. Round-trip law: ``load_spec(save_spec(s, p)) == s`` and
``ModelSpec.from_dict(s.to_dict()) == s``; :meth:`ModelSpec.canonical` is the byte form recorded,
signed, in every version the spec produces.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from driftline.atomic import write_atomic
from driftline.canonical import canonical_json
from driftline.errors import ConfigError, InputError, NotFoundError
from driftline.settings import DriftSettings, GateSettings, Settings
from features.contract_toml import toml_string, toml_value
from features.contracts import ColumnSpec, FeatureGroupContract
from registry.versions import check_model_name

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
SPEC_FAULT = "models.spec.staged"  # kill point: the spec file whole on disk, not yet in place
_TABLES = ("gate", "drift")
_EDIT = "edit the spec file (models/NAME.toml) or remove it and train with the flags again"


def _bad(message: str, hint: str = _EDIT) -> ConfigError:
    return ConfigError(message, hint=hint)


TEXT_LIMIT = 4000  # characters of a card's free text: a paragraph or a few, not a document


def _check_text(name: str, attr: str, value: object) -> None:
    """A card text is None or a non-blank string of printable text (newlines and tabs allowed)."""
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"model {name!r}: {attr} must be non-blank text, found {value!r}",
                   hint=f"write {attr} as a TOML string, or leave it out")
    if len(value) > TEXT_LIMIT:
        raise _bad(f"model {name!r}: {attr} is {len(value)} characters long, over {TEXT_LIMIT}",
                   hint=f"shorten {attr}; the model card links to longer documents better than it holds them")
    bad = sorted({f"U+{ord(c):04X}" for c in value if (ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F})
    if bad:
        raise _bad(f"model {name!r}: {attr} holds control character(s) {', '.join(bad)}",
                   hint=f"remove them from {attr}; only newlines and tabs are kept")


@dataclass(frozen=True)
class ModelSpec:
    """One declared model. Built only well formed: every field is checked by the constructor.

    Round-trip law: ``ModelSpec.from_dict(s.to_dict()) == s``.
    """

    name: str
    task: Task
    label_group: str
    label_column: str
    feature_groups: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    metric: str | None = None
    gate: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    drift: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    holdout_fraction: float | None = None
    budget_s: float | None = None
    trials: int | None = None
    schedule: str | None = None
    as_known: bool = True
    approval: bool = False
    approvers: tuple[str, ...] = ()
    # how long a run on the pool waits for a person before the wait ends in rejection (None: 72 h)
    approval_timeout_hours: float | None = None
    # binary: the label value that is class 1; None = booleans/0-1 as they are, else the second of
    # two values in sorted order (training.schema.binary_classes)
    positive: str | int | bool | None = None
    # Free text for the model card (governance.model_card): what the model is for and what it must
    # not be used for. Optional, so specs written before them keep their canonical bytes.
    intended_use: str | None = None
    limitations: str | None = None

    def __post_init__(self) -> None:
        try:
            check_model_name(self.name)
        except InputError as exc:
            raise _bad(exc.message, hint=exc.hint or _EDIT) from exc
        if self.task not in TASKS:
            raise _bad(f"model {self.name!r}: unknown task {self.task!r}", hint=f"task is one of {', '.join(TASKS)}")
        for attr in ("label_group", "label_column"):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr):
                raise _bad(f"model {self.name!r}: {attr} is missing", hint=f"name the {attr} in the spec")
        for attr in ("feature_groups", "exclude", "approvers"):
            value = getattr(self, attr)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise _bad(f"model {self.name!r}: {attr} must be a list of names, found {value!r}")
            object.__setattr__(self, attr, tuple(value))
        if not self.feature_groups:
            raise _bad(f"model {self.name!r} has no feature groups",
                       hint="list at least one group, or leave feature_groups out to use the label group's columns")
        if len(set(self.feature_groups)) != len(self.feature_groups):
            raise _bad(f"model {self.name!r}: a feature group is listed twice: {list(self.feature_groups)}")
        if self.label_column in self.exclude:
            raise _bad(f"model {self.name!r}: the label column {self.label_column!r} is in exclude",
                       hint="the label is never a feature already; remove it from exclude")
        for table, allowed in (("gate", GateSettings.model_fields), ("drift", DriftSettings.model_fields)):
            value = getattr(self, table)
            unknown = sorted(set(value) - set(allowed)) if isinstance(value, Mapping) else ["(not a table)"]
            if unknown:
                raise _bad(f"model {self.name!r}: unknown {table} setting(s) {', '.join(unknown)}",
                           hint=f"the [{table}] table takes fields of {table.capitalize()}Settings "
                                "(see driftline/settings.py)")
            object.__setattr__(self, table, MappingProxyType(dict(value)))
        if self.holdout_fraction is not None and not 0 < self.holdout_fraction < 1:
            raise _bad(f"model {self.name!r}: holdout_fraction {self.holdout_fraction} is not between 0 and 1")
        if self.budget_s is not None and not self.budget_s > 0:
            raise _bad(f"model {self.name!r}: budget_s {self.budget_s} is not positive")
        if self.trials is not None and (isinstance(self.trials, bool) or not self.trials >= 1):
            raise _bad(f"model {self.name!r}: trials {self.trials} is not a positive count")
        if self.schedule is not None and len(self.schedule.split()) != 5:
            raise _bad(f"model {self.name!r}: schedule {self.schedule!r} is not a cron expression",
                       hint='write five fields, e.g. "0 3 * * 1" for Mondays at 03:00 UTC')
        if self.positive is not None and (self.task != "binary" or not isinstance(self.positive, (str, int))
                                          or self.positive == ""):
            raise _bad(f"model {self.name!r}: positive {self.positive!r} does not fit a {self.task} model",
                       hint="only a binary model names its positive class: one of the label's two values")
        for attr in ("intended_use", "limitations"):
            _check_text(self.name, attr, getattr(self, attr))
        if self.approvers and not self.approval:
            raise _bad(f"model {self.name!r} names approvers but approval is false",
                       hint="set approval = true, or remove the approvers")
        if not isinstance(self.approval, bool):
            raise _bad(f"model {self.name!r}: approval {self.approval!r} is not true or false")
        if len(set(self.approvers)) != len(self.approvers):
            raise _bad(f"model {self.name!r}: an approver is listed twice: {list(self.approvers)}")
        timeout = self.approval_timeout_hours
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout > 0 or not self.approval):
            raise _bad(f"model {self.name!r}: approval_timeout_hours {timeout!r} is not a positive number "
                       "of hours of a model that requires approval",
                       hint="e.g. approval = true and approval_timeout_hours = 72")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML data; ``None`` fields and empty tables are left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            if value is not None and value != {}:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _bad(f"model spec has unknown field(s) {', '.join(unknown)}",
                       hint=f"known fields: {', '.join(sorted(known))}")
        given = dict(data)
        missing = [k for k in ("name", "task", "label_group", "label_column") if k not in given]
        if missing:
            raise _bad(f"model spec {given.get('name', '?')!r} lacks {', '.join(missing)}")
        given.setdefault("feature_groups", (given["label_group"],))
        try:
            return cls(**given)
        except TypeError as exc:  # a value of the wrong type that the checks above did not name
            raise _bad(f"model spec {given['name']!r} is malformed: {exc}") from exc

    def canonical(self) -> bytes:
        """The canonical JSON recorded (and so signed) in the metadata of every version it produces."""
        return canonical_json(self.to_dict())


# The demo's model (features/contracts/*.toml and the settings' defaults): in force when no file declares it.
# The demo keeps the plain point-in-time join: its drops are ingested long after their event times,
# so as known at label time it would have no features (measured: v1 AUC 0.500, rejected).
DEMO_SPEC = ModelSpec(name="churn", task="binary", label_group="churn_labels", label_column="churned",
                      feature_groups=("customer_activity", "customer_billing"), as_known=False)


def _check_positive(spec: ModelSpec, column: ColumnSpec) -> None:
    """A positive class the label's contract rules out, refused before the spec is saved or a flow
    starts (training would refuse it too, after the study's setup, with the spec already written).
    Only what the contract knows: its allowed values, or a bool's two; other labels are checked
    against the data when training reads them (``training.schema.binary_classes``)."""
    if column.allowed is not None:
        values: tuple[str, ...] = tuple(column.allowed)
    elif column.dtype == "bool":
        values = ("false", "true")
    else:
        return
    given = str(spec.positive)
    if given in values or (column.dtype == "bool" and given.lower() in values):
        return
    shown = ", ".join(repr(v) for v in values)
    # yes/no, y/n... are read as a bool column at ingestion: the label's values are then true/false.
    kind = " (a bool column: yes/no are stored as true/false)" if column.dtype == "bool" else ""
    raise _bad(f"model {spec.name!r}: positive class {spec.positive!r} is not one of the label "
               f"{spec.label_column!r}'s values {shown} (the contract of {spec.label_group!r}{kind})",
               hint=f"name one of them: --positive {values[-1]} (or positive = ... in the model spec)")


def check_against_contracts(spec: ModelSpec, contracts: Mapping[str, FeatureGroupContract]) -> ModelSpec:
    """Refuse a spec its data cannot serve: groups without a contract, an unknown label or excluded
    column, feature groups keyed unlike the label group (they could not be joined to its rows)."""
    fix = "write the contract first (python -m flows contract infer ...), or fix the spec"
    label = contracts.get(spec.label_group)
    if label is None:
        raise _bad(f"model {spec.name!r}: label group {spec.label_group!r} has no contract", hint=fix)
    names = {c.name for c in label.columns}
    if spec.label_column not in names:
        raise _bad(f"model {spec.name!r}: label column {spec.label_column!r} is not in the contract of "
                   f"{spec.label_group!r} (columns: {', '.join(sorted(names))})", hint="name one of its columns")
    if spec.positive is not None:
        _check_positive(spec, next(c for c in label.columns if c.name == spec.label_column))
    for group in spec.feature_groups:
        contract = contracts.get(group)
        if contract is None:
            raise _bad(f"model {spec.name!r}: feature group {group!r} has no contract", hint=fix)
        if tuple(contract.entity_keys) != tuple(label.entity_keys):
            raise _bad(f"model {spec.name!r}: feature group {group!r} is keyed by {list(contract.entity_keys)}, "
                       f"the label group {spec.label_group!r} by {list(label.entity_keys)}",
                       hint="a model joins groups of one entity key; drop the group or key it alike")
        names |= {c.name for c in contract.columns}
    unknown = [c for c in spec.exclude if c not in names]
    if unknown:
        raise _bad(f"model {spec.name!r}: excluded column(s) {', '.join(unknown)} are in none of its groups",
                   hint="exclude only columns of the label or feature groups")
    return spec


def spec_toml(spec: ModelSpec) -> str:
    """The spec as TOML: scalars and lists first, then the ``[gate]`` and ``[drift]`` tables."""
    data = spec.to_dict()
    lines = [f"# Model {spec.name!r}, declared for driftline; see docs/ARCHITECTURE.md (Declared models)."]
    lines += [f"{k} = {toml_value(v)}" for k, v in data.items() if k not in _TABLES]
    for table in _TABLES:
        if table in data:
            lines += ["", f"[{table}]"] + [f"{toml_string(k)} = {toml_value(v)}" for k, v in data[table].items()]
    return "\n".join(lines) + "\n"


def load_spec(path: Path) -> ModelSpec:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"no model spec at {path}",
                            hint="train --model NAME --group G --label COL creates it") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"model spec {path} is not valid TOML: {exc}", hint="fix the file's syntax") from exc
    spec = ModelSpec.from_dict(data)
    if spec.name != Path(path).stem:
        raise _bad(f"model spec {path} declares model {spec.name!r}",
                   hint=f"name the file {spec.name}.toml, or set name = {Path(path).stem!r}")
    return spec


def save_spec(spec: ModelSpec, models_dir: Path) -> Path:
    """Write ``models_dir/NAME.toml`` atomically (a crash leaves the old file or none, never half)."""
    path = Path(models_dir) / f"{spec.name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, spec_toml(spec).encode("utf-8"), staged=SPEC_FAULT)
    return path


def models_folder(settings: Settings) -> Path:
    """Where specs live: ``DRIFTLINE_MODELS_DIR`` if set, else ``<home>/models`` beside the contracts."""
    return Path(settings.models_dir) if settings.models_dir is not None else Path(settings.home) / "models"


def declared_models(models_dir: Path) -> tuple[ModelSpec, ...]:
    """Every model declared in ``models_dir``, by name; the demo's alone when none is declared."""
    folder = Path(models_dir)
    paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    return tuple(load_spec(p) for p in paths) or (DEMO_SPEC,)


def resolve_spec(models_dir: Path, name: str) -> ModelSpec:
    """The declared spec of model ``name``; the demo's for ``churn`` when no file declares it."""
    path = Path(models_dir) / f"{check_model_name(name)}.toml"
    if path.is_file():
        return load_spec(path)
    if name == DEMO_SPEC.name:
        return DEMO_SPEC
    raise NotFoundError(f"model {name!r} is not declared (no {path})",
                        hint=f"train --model {name} --group GROUP --label COLUMN declares it")


def spec_from_flags(name: str, *, group: str, label: str, task: str | None = None,
                    features: Sequence[str] = (), exclude: Sequence[str] = (), budget_s: float | None = None,
                    trials: int | None = None, contract_task: str | None = None,
                    positive: str | None = None) -> ModelSpec:
    """The spec ``train --model NAME --group G --label COL [...]`` declares on first use. The task
    defaults to the label group contract's (``contract_task``); feature groups to the label group."""
    chosen = task or contract_task
    if chosen is None:
        raise _bad(f"model {name!r}: no task given and the contract of {group!r} names none",
                   hint="pass --task binary, multiclass or regression")
    return ModelSpec(name=name, task=cast(Task, chosen), label_group=group, label_column=label,
                     feature_groups=tuple(features) or (group,), exclude=tuple(exclude), budget_s=budget_s,
                     trials=trials, positive=positive)


def spec_settings(spec: ModelSpec) -> dict[str, Any]:
    """The spec as settings overrides, shaped like :class:`driftline.settings.Settings`."""
    search = {"n_trials": spec.trials, "timeout_s": spec.budget_s, "holdout_fraction": spec.holdout_fraction}
    training: dict[str, Any] = {k: v for k, v in search.items() if v is not None}
    training["as_known"] = spec.as_known
    out: dict[str, Any] = {"model_name": spec.name, "label_group": spec.label_group,
                           "feature_groups": spec.feature_groups}
    for key, group in (("training", training), ("gate", dict(spec.gate)), ("drift", dict(spec.drift))):
        if group:
            out[key] = group
    return out


def merge_overrides(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, group by group (a run's ``--trials`` wins over the spec's trials)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out


def declaration(spec: ModelSpec, path: Path) -> dict[str, Any]:
    """The ``model.declare`` audit entry's details: the spec, its canonical JSON's sha256 (the
    bytes every version it produces records) and the file it is saved in."""
    return {"spec_sha256": hashlib.sha256(spec.canonical()).hexdigest(), "spec": spec.to_dict(), "path": str(path)}


def declare_on_first_use(models_dir: Path, contracts: Mapping[str, FeatureGroupContract], name: str, *,
                         group: str | None = None, label: str | None = None, task: str | None = None,
                         features: Sequence[str] = (), exclude: Sequence[str] = (),
                         budget_s: float | None = None, trials: int | None = None, positive: str | None = None,
                         record: Callable[[ModelSpec, Path], object] | None = None) -> tuple[ModelSpec, bool]:
    """``train --model NAME [--group G --label COL ...]``: the declared spec, or one made from the
    flags and saved when NAME is not declared yet; True when it was made now. Flags that would
    change a declared spec's data (group, label, task, features, exclude) are refused rather than
    silently ignored; ``--budget`` and ``--trials`` stay run settings once the spec exists.
    ``record(spec, path)`` (the ``model.declare`` audit entry) runs before the file is put in place:
    a kill between the two leaves an entry and no file, and the next run declares (and records)
    again; a spec file never exists that the trail does not name."""
    path = Path(models_dir) / f"{check_model_name(name)}.toml"
    if path.is_file():
        spec = load_spec(path)
        asked = {"label_group": group, "label_column": label, "task": task,
                 "feature_groups": tuple(features) or None, "exclude": tuple(exclude) or None, "positive": positive}
        differ = [f"{k} {v!r} (declared {getattr(spec, k)!r})" for k, v in asked.items()
                  if v is not None and str(v) != str(getattr(spec, k)) and v != getattr(spec, k)]
        if differ:
            raise _bad(f"model {name!r} is declared in {path}; the flags ask for {', '.join(differ)}",
                       hint=f"edit {path} (or train another --model name); the spec is what every flow reads")
        return check_against_contracts(spec, contracts), False
    if group is None or label is None:
        if group is None and label is None and not (features or exclude or task or positive):
            return resolve_spec(models_dir, name), False  # the demo's default, as the settings say it
        missing = "--group" if group is None else "--label"
        raise _bad(f"model {name!r} is not declared yet and the flags name no {missing}",
                   hint=f"train --model {name} --group GROUP --label COLUMN declares it")
    contract = contracts.get(group)
    spec = spec_from_flags(name, group=group, label=label, task=task, features=features, exclude=exclude,
                           budget_s=budget_s, trials=trials, contract_task=contract.task if contract else None,
                           positive=positive)
    check_against_contracts(spec, contracts)
    if record is not None:
        record(spec, path)
    save_spec(spec, models_dir)
    return spec, True
