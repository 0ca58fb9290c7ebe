"""What ``home.versions(model)`` lists: one typed line per registered version, as ``registry list``.

:class:`VersionInfo` is read from the version's ``metadata.json`` and the model's alias file. The
alias file is read through the registry, which checks its signature and its witness mark (a forged
or rolled-back alias file raises ``IntegrityError`` here too); the versions themselves are not
verified by listing, as ``registry list`` does not verify them: loading one (``home.champion``) does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from registry.versions import ModelRegistry


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: its number, the gate's ``status`` (accepted or rejected), the
    aliases naming it (e.g. ``("champion",)``), when it was registered, the id of the key that
    signed it, and its holdout ``metrics`` (read only)."""

    model: str
    version: int
    status: str
    aliases: tuple[str, ...]
    created_at: str
    key_id: str
    metrics: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_champion(self) -> bool:
        return "champion" in self.aliases


def version_infos(registry: ModelRegistry, model: str) -> list[VersionInfo]:
    """Every version of ``model``, oldest first (an unknown model: an empty list)."""
    versions = registry.versions(model)
    aliases = registry.aliases(model) if versions else {}
    return [VersionInfo(model=model, version=v.version, status=v.status,
                        aliases=tuple(sorted(a for a, n in aliases.items() if n == v.version)),
                        created_at=v.created_at, key_id=v.key_id,
                        metrics=MappingProxyType(dict(v.metadata.get("metrics") or {})))
            for v in versions]
