"""Aliases of one model (``champion``, ``challenger``, ...) and their append-only history.

Both live in one file, ``registry/<model>/aliases.json`` (``{"aliases": {...}, "history": [...]}``),
so that a change is a single atomic swap: write a temporary sibling, fsync, rename, fsync the
folder. The file carries an ECDSA signature by the active key over the canonical JSON of the
model's name, aliases and history; every read verifies it through the trust store, so that an
edited alias (``champion`` pointed at another version) is refused, not followed. The caller
holds the model's lock; a new state always extends the old history by one
entry, never rewrites it. Rollback follows the history as a stack: ``set``/``promote`` push a
version, ``rollback`` pops back to an earlier one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from driftline.atomic import fault_point, write_atomic
from driftline.canonical import canonical_b64decode, canonical_json
from driftline.clock import parse_time
from driftline.errors import InputError, IntegrityError, SignatureError
from registry.ledger import Signer
from driftline.crypto import parse_public_pem, verify_p256
from registry.trust import LedgerWitness, TrustStore, check_witnessed

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
        parse_time(self.at)  # format_time's text, or an older file's isoformat

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AliasChange":
        return cls(**data)


@dataclass(frozen=True)
class AliasState:
    """Current aliases plus the full history. Round-trip law:
    ``AliasState.from_doc(s.to_doc(), ...) == s`` (the signature is checked, not kept)."""

    aliases: dict[str, int]
    history: tuple[AliasChange, ...]

    def signed_bytes(self, model: str) -> bytes:
        """What the alias file's signature covers: the model's name, the aliases and the history."""
        return canonical_json({"model": model, "aliases": self.aliases,
                               "history": [c.to_json() for c in self.history]})

    def to_bytes(self, model: str, signer: Signer) -> bytes:
        signature = base64.b64encode(signer.sign(self.signed_bytes(model))).decode("ascii")
        return canonical_json({"aliases": self.aliases, "history": [c.to_json() for c in self.history],
                               "signature": {"key_id": signer.key_id, "value": signature}}) + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes, *, where: Path, model: str, trust: TrustStore,
                   revoked_ok: bool = False) -> "AliasState":
        """Parse and authenticate an alias file: its signature by a trusted, unrevoked key, and
        aliases that agree with the history (each alias is its last change's target).
        ``revoked_ok`` also accepts a key the ledger revoked (only to re-sign the same content)."""
        try:
            doc = json.loads(raw)
            state = cls(aliases={check_alias(k): _number(v) for k, v in doc["aliases"].items()},
                        history=tuple(AliasChange.from_json(c) for c in doc["history"]))
            signature = doc.get("signature")
        except (ValueError, KeyError, TypeError, AttributeError, InputError) as exc:
            raise SignatureError(f"{where} is damaged ({type(exc).__name__})",
                                 hint="restore it from a backup; aliases are never guessed") from None
        if not isinstance(signature, dict) or set(signature) != {"key_id", "value"}:
            raise SignatureError(f"{where} carries no signature",
                                 hint="alias files are signed at every change; restore it from a backup, "
                                      "or promote again with the signing key")
        try:
            value = canonical_b64decode(signature["value"])
        except ValueError:
            raise SignatureError(f"{where} has an unreadable signature", hint="restore it from a backup") from None
        try:
            if revoked_ok:
                public = parse_public_pem(trust.public_pem(signature["key_id"], include_revoked=True))
                verify_p256(public, state.signed_bytes(model), value, what=f"key {signature['key_id'][:16]}")
            else:
                trust.verify(signature["key_id"], state.signed_bytes(model), value)
        except IntegrityError as exc:
            raise type(exc)(f"{where}: {exc.message}", hint="the alias file was changed without the signing "
                            "key; restore it from a backup, or promote again") from None
        replayed = {c.alias: c.to_version for c in state.history}
        if replayed != state.aliases or any(c.model != model for c in state.history):
            raise SignatureError(f"{where} holds aliases {state.aliases} that its history does not lead to",
                                 hint="restore it from a backup")
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


def history_hashes(history: tuple[AliasChange, ...]) -> tuple[str, ...]:
    """The hash after each change: sha256 over the previous hash and the change's canonical JSON,
    so a mark ``(n, hashes[n-1])`` pins the first ``n`` changes."""
    out: list[str] = []
    prev = b"0" * 64
    for change in history:
        prev = hashlib.sha256(prev + canonical_json(change.to_json())).hexdigest().encode("ascii")
        out.append(prev.decode("ascii"))
    return tuple(out)


def _number(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{value!r} is not a version number")
    return value


class AliasBook:
    """Reads (verifying) and atomically replaces one model's signed ``aliases.json``.

    Every read checks the signature through ``trust``; :meth:`commit` (caller holds the model's
    lock) signs the new state with the active key.
    """

    def __init__(self, model_root: Path, trust: TrustStore, *, witness: LedgerWitness | None = None) -> None:
        self.path = Path(model_root) / "aliases.json"
        self.model = Path(model_root).name
        self.trust = trust
        self.witness = witness

    def read(self) -> AliasState:
        """The verified state. With a ``witness`` (a mark kept outside the data home), the history
        must also still start with the witnessed one: an older, validly signed file put back (a
        promotion taken away) or a deleted file is an :class:`IntegrityError`."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            state = AliasState(aliases={}, history=())
        else:
            state = AliasState.from_bytes(raw, where=self.path, model=self.model, trust=self.trust)
        check_witnessed(self.witness, history_hashes(state.history), what=f"the alias history {self.path}")
        return state

    def signed_by(self) -> str | None:
        """The key id the file names as its signer (unverified: only to choose what to re-sign)."""
        try:
            signature = json.loads(self.path.read_bytes()).get("signature")
            return str(signature["key_id"]) if isinstance(signature, dict) else None
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # damaged: every verified read names it; nothing here to re-sign

    def resign(self, *, signer: Signer) -> bool:
        """Sign the same aliases and history again with ``signer`` (caller holds the model's lock).

        As for versions (``ModelRegistry.resign``), the file must still verify under the key that
        signed it, revoked or not, and its history must still hold the witnessed mark: re-signing
        never launders an edited or rolled-back file. False when ``signer`` signed it already.
        """
        self.trust.public_key(signer.key_id)  # the new key must be trusted and unrevoked
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return False
        state = AliasState.from_bytes(raw, where=self.path, model=self.model, trust=self.trust, revoked_ok=True)
        check_witnessed(self.witness, history_hashes(state.history), what=f"the alias history {self.path}")
        if self.signed_by() == signer.key_id:
            return False
        self._replace(state.to_bytes(self.model, signer))
        return True

    def commit(self, change: AliasChange, *, signer: Signer) -> AliasState:
        self.trust.public_key(signer.key_id)  # never write a file that readers would refuse
        state = self.read().with_change(change)
        self._replace(state.to_bytes(self.model, signer))
        # The mark moves with the write, not at the next read: an older file put back before any
        # read (the promotion taken away at once) would otherwise still hold the old mark.
        check_witnessed(self.witness, history_hashes(state.history), what=f"the alias history {self.path}")
        return state

    def _replace(self, data: bytes) -> None:
        fault_point("alias.locked")
        write_atomic(self.path, data, prefix=".aliases.", staged="alias.staged", replaced="alias.replaced")
