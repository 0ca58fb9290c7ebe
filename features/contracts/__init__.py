"""Feature-group contracts: what a group's rows must look like.

A contract is a TOML file (one per group, versioned with the project) loaded into a frozen
:class:`FeatureGroupContract`. The constructor validates, so a contract that exists is well formed:
``load_contract(path) == load_contract(path)`` and ``FeatureGroupContract.from_dict(c.to_dict()) == c``
(round-trip law). The demo's contracts ship in this folder; :func:`contracts_in_use` adds the data
home's ``contracts/*.toml`` (written by ``contract infer``), or reads only ``DRIFTLINE_CONTRACTS_DIR``.
Two column options serve data as it is found: ``parse`` ("currency", "percent", "thousands") reads
numbers written for people ("$1,234.50", "12.5%", "1,234") before they are typed, and
``generated = "row"`` makes a column ingestion fills itself with a row id, for tables without an
entity column (see ``features.validation``). ``undeclared = "ignore"`` lets a drop carry columns
the contract does not declare: they are left out of the store and named in the ingest report and
its audit entry; the default, ``"refuse"``, refuses such a drop whole. ``retention_days`` is how
long a row is kept after its event time: ``enforce-retention`` (``usecases.retention``) deletes
older rows and vacuums them off the disk; a contract without it keeps its rows. ``pii`` tags a
column as personal data: ``pii = true``, or with the policy a compliance export applies to it,
``pii = "drop"``, ``"mask"`` or ``"hash"`` (see ``governance.export_pii``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from driftline.errors import ContractError, NotFoundError

DType = Literal["int64", "float64", "string", "bool", "timestamp", "date"]
DTYPES: tuple[str, ...] = ("int64", "float64", "string", "bool", "timestamp", "date")
Task = Literal["binary", "multiclass", "regression"]
PARSES: tuple[str, ...] = ("currency", "percent", "thousands")
UNDECLARED: tuple[str, ...] = ("refuse", "ignore")  # what a drop's columns the contract lacks do
PII_POLICIES: tuple[str, ...] = ("drop", "mask", "hash")  # how a tagged column leaves in an export
GENERATED: tuple[str, ...] = ("row",)  # the one generated column there is: a row id from the row's content
PACKAGED_CONTRACTS = Path(__file__).parent
_TTL = re.compile(r"^(\d+)\s*([smhdw])$")
_TTL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_ttl(text: str | None) -> timedelta | None:
    """``"7d"`` -> 7 days; ``None`` or ``"none"`` -> no TTL."""
    if text is None or str(text).lower() == "none":
        return None
    match = _TTL.match(str(text).strip())
    if not match:
        raise ContractError(f"TTL {text!r} is not understood", hint='write it as "<n><s|m|h|d|w>", e.g. "7d"')
    return timedelta(**{_TTL_UNITS[match.group(2)]: int(match.group(1))})


def format_ttl(ttl: timedelta | None) -> str | None:
    if ttl is None:
        return None
    seconds = int(ttl.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class ColumnSpec:
    """One typed column and its constraints. ``categorical`` columns are profiled by frequency."""

    name: str
    dtype: DType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    # true (personal; an export treats it by its --pii default) or its declared export policy
    pii: bool | str = False
    categorical: bool = False
    description: str = ""
    parse: str | None = None
    generated: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.name):
            raise ContractError(f"column name {self.name!r} is not an identifier",
                                hint="use letters, digits and underscores")
        if self.dtype not in DTYPES:
            raise ContractError(f"column {self.name!r} has unknown dtype {self.dtype!r}",
                                hint=f"use one of {', '.join(DTYPES)}")
        if self.allowed is not None:
            object.__setattr__(self, "allowed", tuple(self.allowed))
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ContractError(f"column {self.name!r}: min {self.min} is above max {self.max}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ContractError(f"column {self.name!r}: pattern {self.pattern!r} is not a regex: {exc}") from exc
        if not isinstance(self.pii, bool) and self.pii not in PII_POLICIES:
            raise ContractError(f"column {self.name!r}: pii = {self.pii!r} is not understood",
                                hint='write pii = true, or the export policy: pii = "drop", "mask" or "hash"')
        if self.parse is not None and (self.parse not in PARSES or self.dtype not in ("int64", "float64")):
            raise ContractError(f"column {self.name!r}: parse = {self.parse!r} on a {self.dtype} column",
                                hint=f"parse is one of {', '.join(PARSES)}, on an int64 or float64 column")
        if self.generated is not None and (self.generated not in GENERATED or self.dtype != "string"
                                           or self.nullable):
            raise ContractError(f"column {self.name!r}: generated = {self.generated!r} is not understood here",
                                hint='write generated = "row" on a string column with nullable = false')


@dataclass(frozen=True)
class FeatureGroupContract:
    """A feature group: entity key(s), event time, typed columns (keys and time included), TTL.

    A labels group names its ``label`` column and the ``task`` it defines.
    """

    name: str
    version: int
    entity_keys: tuple[str, ...]
    event_time: str
    columns: tuple[ColumnSpec, ...]
    ttl: timedelta | None = None
    duplicates: Literal["keep_latest", "reject"] = "keep_latest"
    label: str | None = None
    task: Task | None = None
    description: str = ""
    undeclared: Literal["refuse", "ignore"] = "refuse"
    # Days a row is kept after its event time; ``enforce-retention`` deletes older rows. None: kept.
    retention_days: int | None = None
    _by_name: dict[str, ColumnSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_keys", tuple(self.entity_keys))
        object.__setattr__(self, "columns", tuple(self.columns))
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ContractError(f"contract {self.name!r} declares a column twice")
        object.__setattr__(self, "_by_name", by_name)
        for key in (*self.entity_keys, self.event_time):
            if key not in by_name:
                raise ContractError(f"contract {self.name!r}: key column {key!r} is not declared in [[columns]]")
        if not self.entity_keys:
            raise ContractError(f"contract {self.name!r} has no entity key", hint="set entity_keys = [\"...\"]")
        if by_name[self.event_time].dtype not in ("timestamp", "date"):
            raise ContractError(f"contract {self.name!r}: event time {self.event_time!r} must be a timestamp")
        if self.duplicates not in ("keep_latest", "reject"):
            raise ContractError(f"contract {self.name!r}: duplicates must be keep_latest or reject")
        if self.undeclared not in UNDECLARED:
            raise ContractError(f"contract {self.name!r}: undeclared = {self.undeclared!r} is not understood",
                                hint='write undeclared = "refuse" (the default) or undeclared = "ignore"')
        if self.retention_days is not None and (isinstance(self.retention_days, bool)
                                                or not isinstance(self.retention_days, int)
                                                or self.retention_days < 1):
            raise ContractError(f"contract {self.name!r}: retention_days = {self.retention_days!r} is not a "
                                "whole number of days of at least 1",
                                hint="write retention_days = 400 (for example), or leave it out to keep rows")
        if (self.label is None) != (self.task is None):
            raise ContractError(f"contract {self.name!r}: a labels group sets both label and task")
        if self.label is not None and self.label not in by_name:
            raise ContractError(f"contract {self.name!r}: label column {self.label!r} is not declared")
        generated = [c.name for c in self.columns if c.generated]
        if generated and tuple(generated) != self.entity_keys:
            raise ContractError(f"contract {self.name!r}: generated column(s) {', '.join(generated)} must be "
                                "the only entity key", hint=f'set entity_keys = ["{generated[0]}"]')

    @property
    def generated_columns(self) -> tuple[str, ...]:
        """Columns ingestion fills itself (a row id); a drop may not carry them."""
        return tuple(c.name for c in self.columns if c.generated)

    def column(self, name: str) -> ColumnSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(f"feature group {self.name!r} has no column {name!r}") from None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Columns that are features: everything but keys, event time and label."""
        skip = {*self.entity_keys, self.event_time, self.label}
        return tuple(c.name for c in self.columns if c.name not in skip)

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    @property
    def pii_policies(self) -> dict[str, str | None]:
        """Each PII-tagged column's declared export policy; None for ``pii = true`` (the export's default)."""
        return {c.name: (None if c.pii is True else str(c.pii)) for c in self.columns if c.pii}

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["ttl"] = format_ttl(self.ttl)
        data["entity_keys"] = list(self.entity_keys)
        data["columns"] = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items() if v is not None}
                           for c in self.columns]
        if self.undeclared == "refuse":  # the default is left out: contracts admitted before it read the same
            del data["undeclared"]
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> "FeatureGroupContract":
        try:
            columns = tuple(ColumnSpec(**col) for col in data["columns"])
            return cls(
                name=data["name"], version=int(data.get("version", 1)),
                entity_keys=tuple(data["entity_keys"]), event_time=data["event_time"], columns=columns,
                ttl=parse_ttl(data.get("ttl")), duplicates=data.get("duplicates", "keep_latest"),
                label=data.get("label"), task=data.get("task"), description=data.get("description", ""),
                undeclared=data.get("undeclared", "refuse"), retention_days=data.get("retention_days"))
        except KeyError as exc:
            raise ContractError(f"contract {source} lacks the required field {exc.args[0]!r}") from exc
        except TypeError as exc:
            raise ContractError(f"contract {source} has an unknown or malformed field: {exc}") from exc


def load_contract(path: Path) -> FeatureGroupContract:
    """Read one contract file (TOML)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"contract file {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract file {path} is not valid TOML: {exc}") from exc
    return FeatureGroupContract.from_dict(data, source=str(path))


def load_contracts(folder: Path | None = None) -> dict[str, FeatureGroupContract]:
    """All contracts of a folder (default: the packaged demo contracts), by group name."""
    folder = Path(folder) if folder is not None else PACKAGED_CONTRACTS
    if not folder.is_dir():
        raise NotFoundError(f"contracts folder {folder} does not exist",
                            hint="set DRIFTLINE_CONTRACTS_DIR to a folder of *.toml contracts")
    contracts: dict[str, FeatureGroupContract] = {}
    for path in sorted(folder.glob("*.toml")):
        contract = load_contract(path)
        if contract.name in contracts:
            raise ContractError(f"two contracts in {folder} define the group {contract.name!r}")
        contracts[contract.name] = contract
    return contracts


def contracts_in_use(contracts_dir: Path | None, home_contracts: Path | None) -> dict[str, FeatureGroupContract]:
    """The contracts a data home works with: only ``contracts_dir`` when it is set
    (``DRIFTLINE_CONTRACTS_DIR``), else the packaged demo contracts plus ``home_contracts/*.toml``
    (``<home>/contracts``, where ``contract infer`` writes), a home contract replacing the packaged
    one of the same group (the user's own data wins over the demo's)."""
    if contracts_dir is not None:
        return load_contracts(contracts_dir)
    contracts = load_contracts(PACKAGED_CONTRACTS)
    if home_contracts is not None and Path(home_contracts).is_dir():
        contracts.update(load_contracts(home_contracts))
    return contracts
