"""How PII-tagged columns leave in a compliance export: dropped, masked or hashed with a keyed hash.

A contract tags columns ``pii = true``; the export is given those names and one declared policy
(:class:`PiiPolicy`). Any audit-entry detail field of such a name, at any depth, is then removed
(``drop``), replaced by ``"[masked]"`` (``mask``) or replaced by ``"hmac-sha256:<hex>"`` of its
canonical JSON (``hash``), so the same identifier maps to the same token across entries and
exports of one key, and an analyst can join on it without seeing it. The hash key is derived from
the exporter's signing key (:func:`derive_hash_key`) and never written anywhere: without the
private key nobody can test guesses (a plain hash of a six-digit customer id would fall to a
million tries). The policy, never the key, is recorded in the signed manifest (:meth:`record`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from driftline.canonical import canonical_json
from driftline.errors import InputError

__all__ = ["MASK", "POLICIES", "PiiPolicy", "derive_hash_key"]

MASK = "[masked]"
POLICIES = ("drop", "mask", "hash")
_DROPPED = object()
_KDF_LABEL = b"driftline.export.pii-hash/v1"


def derive_hash_key(private_scalar: bytes) -> bytes:
    """The keyed hash's key: HMAC-SHA256 of a fixed label under the signing key's private scalar.
    One-way, so the hash key reveals nothing of the signing key; stable for one signing key."""
    return hmac.new(private_scalar, _KDF_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class PiiPolicy:
    """The declared treatment of ``fields``. Built valid or not at all: an unknown action, or
    ``hash`` without a key, is refused. ``record()`` is what the manifest holds."""

    fields: tuple[str, ...] = ()
    action: str = "mask"
    key: bytes | None = None

    def __post_init__(self) -> None:
        if self.action not in POLICIES:
            raise InputError(f"PII policy {self.action!r} is not one of {', '.join(POLICIES)}",
                             hint="pass --pii drop, --pii mask or --pii hash")
        if self.action == "hash" and not self.key:
            raise InputError("the hash PII policy needs a key derived from the signing key",
                             hint="build the policy with derive_hash_key(...) of the exporter's key")

    def record(self) -> dict[str, Any]:
        """The manifest's ``pii_policy``: each field's action, and how hashes are keyed (not the key)."""
        out: dict[str, Any] = {"fields": {f: self.action for f in sorted(self.fields)}}
        if self.action == "hash":
            out["hash"] = ("hmac-sha256 over the value's canonical JSON; key derived from the exporter's "
                           "signing key, not shipped")
        return out

    def _replace(self, value: Any) -> Any:
        if self.action == "drop":
            return _DROPPED
        if self.action == "mask":
            return MASK
        assert self.key is not None
        return "hmac-sha256:" + hmac.new(self.key, canonical_json(value), hashlib.sha256).hexdigest()

    def apply(self, value: Any) -> tuple[Any, bool]:
        """``value`` with every PII field treated; and whether any was found."""
        names = frozenset(self.fields)
        if isinstance(value, dict):
            out, hit = {}, False
            for key, item in value.items():
                if key in names:
                    hit = True
                    replaced = self._replace(item)
                    if replaced is not _DROPPED:
                        out[key] = replaced
                else:
                    out[key], sub = self.apply(item)
                    hit = hit or sub
            return out, hit
        if isinstance(value, list):
            pairs = [self.apply(item) for item in value]
            return [p[0] for p in pairs], any(p[1] for p in pairs)
        return value, False
