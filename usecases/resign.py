"""Re-sign registry versions and alias files with the active key (after a revocation or rotation).

The rule is the registry's: a version or an ``aliases.json`` is re-signed only while its content
still verifies under the key that signed it, revoked or not (``ModelRegistry.resign``,
``ModelRegistry.resign_aliases``), so re-signing never launders a change made after signing.
Alias files go first: every reader, ``reconcile`` included, refuses one signed by a revoked key.
Then reconcile records what earlier crashes left unrecorded, the versions are re-signed, and one
``model.resign`` entry names everything re-signed, closed by a checkpoint. Nothing re-signed,
nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from driftline.errors import InputError
from usecases.reconcile import reconcile

if TYPE_CHECKING:
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class ResignResult:
    """What was re-signed with ``key_id``: versions as ``"<model> v<n>"``, alias files by model."""

    key_id: str
    versions: tuple[str, ...]
    aliases: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.versions or self.aliases)


def resign(ws: "Workspace", *, model: str | None = None, version: int | str | None = None,
           every: bool = False, flow_run_id: str | None = None) -> ResignResult:
    """Re-sign every version and alias file not signed by the active key (``every``), or one
    version of ``model`` (``version``: a number, an alias or ``latest``) and that model's aliases."""
    if every:
        models = ws.registry.models()
    elif model is not None:
        models = [model]
    else:
        raise InputError("registry resign needs a MODEL [VERSION] or --all",
                         hint="python -m flows registry resign --all")
    key = ws.signing_key()
    aliases = tuple(m for m in models  # before any read of the aliases, reconcile's among them
                    if ws.registry.alias_signer(m) not in (None, key.key_id) and ws.registry.resign_aliases(m, key))
    reconcile(ws)
    if every:
        targets = [(v.model, v.version) for m in models for v in ws.registry.versions(m)]
    else:
        targets = [(models[0], ws.registry.get(models[0], "latest" if version is None else version).version)]
    done = []
    for name, number in targets:
        if ws.registry.get(name, number).key_id == key.key_id:
            continue
        ws.registry.resign(name, number, key)
        done.append(f"{name} v{number}")
    result = ResignResult(key_id=key.key_id, versions=tuple(done), aliases=aliases)
    if result.changed:
        ws.audit.append("model.resign", f"key:{key.key_id}",
                        {"versions": done, "aliases": list(aliases), "key_id": key.key_id},
                        actor=ws.actor(flow_run_id))
        ws.audit.checkpoint(key)
    return result
