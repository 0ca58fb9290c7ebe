"""Schema evolution: may a feature group's contract change from ``old`` to ``new`` without breaking
the rows already stored?

:func:`check_evolution` answers with an :class:`EvolutionPlan` or raises ContractError naming the
column, the old and the new definition, and what to do instead. Accepted: adding a nullable column
(stored rows read it as null; the store merges the schema on the next append), retiring a nullable
column (old rows keep it, new rows leave it null), making a column nullable, and changing
min/max/allowed/pattern (they judge new drops only). Refused: changing a column's type, dropping or
adding a required column, making a nullable column required, changing the entity keys or the event
time — each would make stored rows disagree with the contract. A changed contract must carry a
higher ``version``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from driftline.atomic import write_atomic
from driftline.canonical import canonical_json
from driftline.errors import ContractError
from features.contracts import ColumnSpec, FeatureGroupContract


@dataclass(frozen=True)
class EvolutionPlan:
    """The accepted difference between two versions of a group's contract (empty when equal)."""

    group: str
    old_version: int
    new_version: int
    added: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    relaxed: tuple[str, ...] = ()
    constraints_changed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.retired or self.relaxed or self.constraints_changed)


def _constraints(spec: ColumnSpec) -> tuple[object, ...]:
    return (spec.min, spec.max, spec.allowed, spec.pattern)


def check_evolution(old: FeatureGroupContract, new: FeatureGroupContract) -> EvolutionPlan:
    """Plan the change from ``old`` to ``new``; ContractError if stored rows would break."""
    where = f"contract {new.name!r} v{old.version} -> v{new.version}"
    if old.name != new.name:
        raise ContractError(f"{where}: the group name changed from {old.name!r} to {new.name!r}",
                            hint="a renamed group is a new group: write a new contract and ingest into it")
    if (old.entity_keys, old.event_time) != (new.entity_keys, new.event_time):
        raise ContractError(
            f"{where}: entity keys/event time changed from {list(old.entity_keys)}/{old.event_time!r} "
            f"to {list(new.entity_keys)}/{new.event_time!r}",
            hint="stored rows are keyed the old way; create a new feature group for the new keys")
    added, retired, relaxed, constraints = [], [], [], []
    for spec in old.columns:
        if spec.name not in new.column_names:
            if not spec.nullable:
                raise ContractError(
                    f"{where}: required column {spec.name!r} ({spec.dtype}) was dropped",
                    hint="keep the column, or first make it nullable (nullable = true) in one version "
                         "and retire it in the next")
            retired.append(spec.name)
            continue
        after = new.column(spec.name)
        if after.dtype != spec.dtype:
            raise ContractError(
                f"{where}: column {spec.name!r} changed type from {spec.dtype} to {after.dtype}",
                hint=f"keep {spec.name!r} as {spec.dtype} and add a new nullable column of type "
                     f"{after.dtype} (e.g. {spec.name}_{after.dtype}), or create a new feature group")
        if spec.nullable and not after.nullable:
            raise ContractError(
                f"{where}: column {spec.name!r} changed from nullable to required",
                hint="stored rows may hold nulls; keep it nullable, or backfill into a new feature group")
        if not spec.nullable and after.nullable:
            relaxed.append(spec.name)
        if _constraints(spec) != _constraints(after):
            constraints.append(spec.name)
    for spec in new.columns:
        if spec.name not in old.column_names:
            if not spec.nullable:
                raise ContractError(
                    f"{where}: new column {spec.name!r} ({spec.dtype}) is required",
                    hint="stored rows have no value for it: add it with nullable = true")
            added.append(spec.name)
    plan = EvolutionPlan(new.name, old.version, new.version, tuple(added), tuple(retired),
                         tuple(relaxed), tuple(constraints))
    if plan.changed and new.version <= old.version:
        raise ContractError(f"{where}: the contract changed but its version did not increase",
                            hint=f"set version = {old.version + 1}")
    return plan


class ContractLedger:
    """The contract each group's stored rows were written under, kept beside the Delta tables.

    Ingestion admits a group's contract before writing: the first contract of a group is
    recorded; an unchanged one passes; a changed one must pass :func:`check_evolution` (else the
    ContractError stops the ingest before anything is written, and the drops stay in landing/),
    and is then recorded, with the change appended to ``<group>.history.jsonl``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def current(self, group: str) -> FeatureGroupContract | None:
        path = self.root / f"{group}.json"
        if not path.exists():
            return None
        return FeatureGroupContract.from_dict(json.loads(path.read_text(encoding="utf-8")), source=str(path))

    def admit(self, contract: FeatureGroupContract) -> EvolutionPlan | None:
        """None when nothing changed; the accepted plan when the contract evolved."""
        old = self.current(contract.name)
        if old == contract:
            return None
        plan = check_evolution(old, contract) if old is not None else None
        record = canonical_json(contract.to_dict())
        if plan is not None:
            history = self.root / f"{contract.name}.history.jsonl"
            with history.open("ab") as handle:
                handle.write(canonical_json({"from": old.version, "to": contract.version,
                                             "plan": asdict(plan)}) + b"\n")
        write_atomic(self.root / f"{contract.name}.json", record)
        return plan
