"""Schema evolution: may a feature group's contract change from ``old`` to ``new`` without breaking
the rows already stored?

:func:`check_evolution` answers with an :class:`EvolutionPlan` or raises ContractError naming the
column, the old and the new definition, and what to do instead. Accepted: adding a nullable column
(stored rows read it as null; the store merges the schema on the next append), retiring a nullable
column (old rows keep it, new rows leave it null), making a column nullable, and changing
min/max/allowed/pattern (they judge new drops only). Refused: changing a column's type, dropping or
adding a required column, making a nullable column required, changing the entity keys or the event
time — each would make stored rows disagree with the contract. A changed contract must carry a
higher ``version``. :class:`ContractLedger` records the admitted contract of each group and the
history of its accepted changes, crash-safely.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from driftline.atomic import fault_point, fsync_dir, write_atomic
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


@dataclass(frozen=True)
class ContractChange:
    """One accepted change in a group's history: ``<group>.history.jsonl`` holds one canonical
    JSON line ``{"from", "to", "plan"}`` per change; ``ContractChange.parse(c.to_line()) == c``."""

    from_version: int
    to_version: int
    plan: EvolutionPlan

    def to_line(self) -> bytes:
        return canonical_json({"from": self.from_version, "to": self.to_version, "plan": asdict(self.plan)}) + b"\n"

    @classmethod
    def parse(cls, line: bytes, *, where: str) -> "ContractChange":
        try:
            raw = json.loads(line)
            plan: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw["plan"].items()}
            return cls(int(raw["from"]), int(raw["to"]), EvolutionPlan(**plan))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ContractError(f"{where} is not a contract change record: {exc}",
                                hint="restore the contract history from a backup of the store") from exc


def _append_change(path: Path, line: bytes) -> None:
    """Append ``line`` durably, once. The line is fsynced before the contract it records replaces
    the current one, so a torn last line or a last line equal to ``line`` can only be left by an
    admit that never finished: the torn one is cut, the equal one is not written twice."""
    created = not path.exists()
    with open(path, "a+b") as handle:
        handle.seek(0)
        body = handle.read()
        if body and not body.endswith(b"\n"):
            handle.truncate(body.rfind(b"\n") + 1)
            body = body[:body.rfind(b"\n") + 1]
        last = body.splitlines()[-1] + b"\n" if body else b""
        if last != line:
            handle.write(line)  # appends at the end, after any cut
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fsync_dir(path.parent)


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
        if old is not None and plan is not None:
            # History first: a kill before the contract is replaced repeats this admit, which
            # finds its own line already there (see _append_change).
            _append_change(self._history(contract.name), ContractChange(old.version, contract.version, plan).to_line())
            fault_point("contracts.history")
        write_atomic(self.root / f"{contract.name}.json", record)
        fault_point("contracts.current")
        return plan

    def _history(self, group: str) -> Path:
        return self.root / f"{group}.history.jsonl"

    def history(self, group: str) -> list[ContractChange]:
        """The accepted changes of ``group``, oldest first; ContractError on a torn or bad line."""
        path = self._history(group)
        if not path.exists():
            return []
        body = path.read_bytes()
        if body and not body.endswith(b"\n"):
            raise ContractError(f"{path} ends in a torn line (a contract change that never finished)",
                                hint=f"the next ingest into {group!r} cuts it; do not edit the file by hand")
        return [ContractChange.parse(line, where=f"{path} line {number}")
                for number, line in enumerate(body.splitlines(), start=1)]
