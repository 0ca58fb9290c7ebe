"""Aliases of one model (``champion``, ``challenger``, ...) and their append-only history.

Both live in one file, ``registry/<model>/aliases.json`` (``{"aliases": {...}, "history": [...]}``),
so that a change is a single atomic swap: write a temporary sibling, fsync, rename, fsync the
folder. The caller holds the model's lock; a new state always extends the old history by one
entry, never rewrites it. Rollback follows the history as a stack: ``set``/``promote`` push a
version, ``rollback`` pops back to an earlier one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from driftline.atomic import fault_point, fsync_dir
from driftline.canonical import canonical_json
from driftline.errors import InputError, SignatureError

_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
Action = Literal["set", "promote", "rollback"]


class PromotionRefused(InputError):
    """A promotion that the registry's rules forbid (a rejected version); names the rule."""


def check_alias(name: str) -> str:
    if not isinstance(name, str) or not _ALIAS.match(name) or name == "latest":
        raise InputError(f"{name!r} is not a valid alias name",
                         hint="use lower-case letters, digits, - or _, starting with a letter; not 'latest'")
    return name


@dataclass(frozen=True)
class AliasChange:
    """One entry of an alias history. Round-trip law: ``AliasChange.from_json(c.to_json()) == c``."""

    model: str
    alias: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    at: str
    action: Action = "set"

    def __post_init__(self) -> None:
        check_alias(self.alias)
        if not isinstance(self.to_version, int) or self.to_version < 1:
            raise InputError(f"alias target {self.to_version!r} is not a version number", hint="use 1, 2, ...")
        if self.from_version is not None and (not isinstance(self.from_version, int) or self.from_version < 1):
            raise InputError(f"previous version {self.from_version!r} is not a version number", hint="use 1, 2, ...")
        if not self.actor.strip() or not self.reason.strip():
            raise InputError("an alias change needs an actor and a reason", hint="say who and why")
        if self.action not in ("set", "promote", "rollback"):
            raise InputError(f"unknown alias action {self.action!r}", hint="set, promote or rollback")
        dt.datetime.fromisoformat(self.at)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AliasChange":
        return cls(**data)


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AliasState:
    """Current aliases plus the full history. Round-trip law:
    ``AliasState.from_bytes(s.to_bytes()) == s``."""

    aliases: dict[str, int]
    history: tuple[AliasChange, ...]

    def to_bytes(self) -> bytes:
        return canonical_json({"aliases": self.aliases, "history": [c.to_json() for c in self.history]}) + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes, *, where: Path) -> "AliasState":
        try:
            doc = json.loads(raw)
            state = cls(aliases={check_alias(k): int(v) for k, v in doc["aliases"].items()},
                        history=tuple(AliasChange.from_json(c) for c in doc["history"]))
        except (ValueError, KeyError, TypeError, AttributeError, InputError) as exc:
            raise SignatureError(f"{where} is damaged ({type(exc).__name__})",
                                 hint="restore it from a backup; aliases are never guessed") from None
        return state

    def with_change(self, change: AliasChange) -> "AliasState":
        return AliasState(aliases={**self.aliases, change.alias: change.to_version},
                          history=self.history + (change,))

    def stack(self, alias: str) -> list[int]:
        """The alias's versions as a stack replayed from history (rollbacks pop)."""
        stack: list[int] = []
        for change in self.history:
            if change.alias != alias:
                continue
            if change.action == "rollback" and change.to_version in stack:
                del stack[len(stack) - stack[::-1].index(change.to_version):]
            else:
                stack.append(change.to_version)
        return stack


class AliasBook:
    """Reads and atomically replaces one model's ``aliases.json`` (caller holds the lock)."""

    def __init__(self, model_root: Path) -> None:
        self.path = Path(model_root) / "aliases.json"

    def read(self) -> AliasState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return AliasState(aliases={}, history=())
        return AliasState.from_bytes(raw, where=self.path)

    def commit(self, change: AliasChange) -> AliasState:
        state = self.read().with_change(change)
        fault_point("alias.locked")
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".aliases.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(state.to_bytes())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            fault_point("alias.staged")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fault_point("alias.replaced")
        fsync_dir(self.path.parent)
        return state
