"""The trust ledger: ``keys/trust.jsonl``, the signed, hash-chained source of truth for trust.

Each line is one canonical-JSON entry: ``seq``, ``time``, ``action`` (``root``, ``trust``,
``rotate`` or ``revoke``), ``key_id``, ``pem`` (when a key is added), ``reason`` (when one is
revoked), ``prev_hash``, ``hash`` (sha256 of the entry without ``hash`` and ``signature``),
``signer`` and ``signature`` (ECDSA P-256, base64, over the entry without ``signature``). The
first entry is the root, signed by its own key; every later entry must be signed by a key that is
trusted and unrevoked at that point of the ledger. :func:`replay` rebuilds the state and names the
first bad line; nothing on disk besides this file decides trust (``trusted/*.pub`` and
``revoked/*.json`` are a mirror for people and outside tools). The file is small and rewritten
whole (temporary sibling, fsync, rename) under a lock, so a crash leaves the old or the new ledger.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from driftline.canonical import canonical_b64decode, canonical_json
from driftline.clock import format_time, utc_now
from driftline.crypto import parse_public_pem, verify_p256
from driftline.errors import IntegrityError, KeyMaterialError, SignatureError

ACTIONS = ("root", "trust", "rotate", "revoke")
_ADDS = ("root", "trust", "rotate")
_FIELDS = {"seq", "time", "action", "key_id", "pem", "reason", "prev_hash", "hash", "signer", "signature"}
_RESTORE = "restore keys/trust.jsonl from a backup; trust is never guessed"


class Signer(Protocol):
    """What signs a ledger entry or an alias file (``registry.keys.SigningKey`` is one)."""

    # Read-only members: a frozen SigningKey (or a test double) only has to expose them.
    @property
    def key_id(self) -> str: ...

    @property
    def public_pem(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class TrustState:
    """What the ledger says after replay. Round-trip law: ``replay(path)`` of a ledger written by
    :func:`append` holds every added key in ``pems`` and every revoked one in ``revoked``."""

    pems: dict[str, bytes] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)  # key id -> reason
    actions: dict[str, str] = field(default_factory=dict)  # key id -> action that added it
    hashes: tuple[str, ...] = ()  # hash of entry 1, 2, ...

    @property
    def head(self) -> tuple[int, str]:
        return len(self.hashes), (self.hashes[-1] if self.hashes else "")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "signature")}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _signed_bytes(entry: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in entry.items() if k != "signature"})


def make_entry(state: TrustState, *, action: str, key_id: str, signer: Signer,
               pem: bytes | None = None, reason: str = "",
               clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """The next entry after ``state``, hashed and signed by ``signer`` (not yet written).

    ``clock`` (default: now, UTC) is injectable so that golden files can be made reproducibly.
    """
    moment = clock() if clock is not None else utc_now()
    entry = {"seq": len(state.hashes) + 1,
             "time": format_time(moment),
             "action": action, "key_id": key_id, "pem": pem.decode("ascii") if pem else "",
             "reason": reason, "prev_hash": state.head[1], "signer": signer.key_id}
    entry["hash"] = entry_hash(entry)
    entry["signature"] = base64.b64encode(signer.sign(_signed_bytes(entry))).decode("ascii")
    return entry


def apply(state: TrustState, entry: dict[str, Any], *, where: str) -> TrustState:
    """Check one entry against the state before it and return the state after it."""
    seq = len(state.hashes) + 1
    if not isinstance(entry, dict) or set(entry) != _FIELDS:
        raise IntegrityError(f"{where}: entry {seq} has fields {sorted(entry) if isinstance(entry, dict) else '?'}",
                             hint=f"expected {sorted(_FIELDS)}; {_RESTORE}")
    action, key_id = entry["action"], entry["key_id"]
    if entry["seq"] != seq or entry["prev_hash"] != state.head[1]:
        raise IntegrityError(f"{where}: entry {seq} does not follow entry {seq - 1} (seq {entry['seq']!r})",
                             hint=f"an entry was removed, moved or inserted; {_RESTORE}")
    if entry["hash"] != entry_hash(entry):
        raise SignatureError(f"{where}: entry {seq} does not match its hash",
                             hint=f"the entry was edited; {_RESTORE}")
    if action not in ACTIONS or (action == "root") != (seq == 1):
        raise IntegrityError(f"{where}: entry {seq} has action {action!r}",
                             hint=f"the first entry is the root, later ones trust, rotate or revoke; {_RESTORE}")
    pems, revoked, actions = dict(state.pems), dict(state.revoked), dict(state.actions)
    if action in _ADDS:
        try:
            added = parse_public_pem(str(entry["pem"]).encode("utf-8"))
        except KeyMaterialError:
            raise IntegrityError(f"{where}: entry {seq} carries no P-256 public key", hint=_RESTORE) from None
        pem = added.pem
        if pem.decode("ascii") != entry["pem"] or added.key_id != key_id:
            raise IntegrityError(f"{where}: entry {seq} names key {str(key_id)[:16]} but carries another key",
                                 hint=_RESTORE)
        if key_id in pems:
            raise IntegrityError(f"{where}: entry {seq} adds key {key_id[:16]} a second time", hint=_RESTORE)
        pems[key_id], actions[key_id] = pem, action
    else:
        if key_id not in pems or not str(entry["reason"]).strip():
            raise IntegrityError(f"{where}: entry {seq} revokes an unknown key or gives no reason",
                                 hint=_RESTORE)
        revoked.setdefault(key_id, str(entry["reason"]))
    # The root signs itself; every other entry is signed by a key trusted before it.
    signer = entry["signer"]
    if action == "root":
        if signer != key_id:
            raise IntegrityError(f"{where}: the root entry is not signed by its own key", hint=_RESTORE)
        signer_pem = pems[key_id]
    elif signer not in state.pems or signer in state.revoked:
        raise SignatureError(f"{where}: entry {seq} is signed by key {str(signer)[:16]}, "
                             "which was not trusted and unrevoked at that point",
                             hint=f"trust changes must be signed by an already trusted key; {_RESTORE}")
    else:
        signer_pem = state.pems[signer]
    try:
        signature = canonical_b64decode(entry["signature"])
    except ValueError:
        raise SignatureError(f"{where}: entry {seq} has no readable signature", hint=_RESTORE) from None
    verify_p256(parse_public_pem(signer_pem), _signed_bytes(entry), signature,
                what=f"key {signer[:16]} ({where}, entry {seq})")
    return TrustState(pems=pems, revoked=revoked, actions=actions, hashes=state.hashes + (entry["hash"],))


def replay(raw: bytes, *, where: str) -> TrustState:
    """Rebuild the trust state from the ledger's bytes; the first bad line raises."""
    state = TrustState()
    if not raw:
        raise IntegrityError(f"{where} is empty", hint=_RESTORE)
    if not raw.endswith(b"\n"):
        raise IntegrityError(f"{where} ends in a torn line", hint=_RESTORE)
    for number, line in enumerate(raw[:-1].split(b"\n"), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise IntegrityError(f"{where}: line {number} is not JSON", hint=_RESTORE) from None
        if canonical_json(entry) != line:
            raise IntegrityError(f"{where}: line {number} is not in canonical form", hint=_RESTORE)
        state = apply(state, entry, where=where)
    return state


def encode(entry: dict[str, Any]) -> bytes:
    return canonical_json(entry) + b"\n"


def read_bytes(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None
