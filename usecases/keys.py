"""Key administration as use cases: init, rotate, trust, revoke and verify the signing keys.

Each changing use case writes the trust ledger, then its one audit entry (``key.init``,
``key.rotate``, ``key.trust``, ``key.revoke``, the pairs ``keys verify`` checks), then a signed
checkpoint, all here, so that the CLI only parses and prints. Asking for what is already so (a
key already trusted, a key already revoked, a home that has its key) changes nothing and writes
nothing. Revoking a key first re-signs, with the active key, every ``aliases.json`` that key
signed, while it still verifies: otherwise every alias file it signed would be refused by every
reader from the revocation on, ``registry resign`` included. Versions are left to ``registry
resign`` (their files are checked against the revoked key's signature there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.errors import InputError, IntegrityError, KeyMaterialError, NotFoundError

if TYPE_CHECKING:
    from registry.keys import SigningKey
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class KeyEvent:
    """What a key command did: ``changed`` is False when it found things already so (no entry)."""

    action: str  # the audit action: key.init, key.rotate, key.trust, key.revoke
    key_id: str
    changed: bool
    aliases_resigned: tuple[str, ...] = ()  # models whose aliases.json a revocation re-signed


@dataclass(frozen=True)
class TrustCheck:
    """A trust ledger that replays and agrees with the audit trail's ``key.*`` entries."""

    entries: int
    head_hash: str


def _audited(ws: "Workspace", key: "SigningKey", action: str, key_id: str, details: dict[str, Any]) -> None:
    """The one audit entry of a key event, then the checkpoint that signs it."""
    ws.audit.append(action, f"key:{key_id}", {"key_id": key_id, **details}, actor=ws.actor())
    ws.audit.checkpoint(key)


def init_key(ws: "Workspace") -> KeyEvent:
    """Create the data home's signing key and root the trust ledger with it (nothing if it has one).

    ``Workspace.signing_key`` appends the ``key.init`` entry as it creates the key (a flow that
    signs first creates it the same way); this signs that entry at once.
    """
    existed = ws.keyring.exists()
    key = ws.signing_key()
    if existed:
        return KeyEvent("key.init", key.key_id, changed=False)
    ws.audit.checkpoint(key)
    return KeyEvent("key.init", key.key_id, changed=True)


def rotate_key(ws: "Workspace") -> KeyEvent:
    """Make a new active key; versions and aliases signed by the old one still verify."""
    old = ws.signing_key()
    if ws.audit.head()[0]:  # seal what the old key MACed: checkpoints only cover the active key's MACs
        ws.audit.checkpoint(old)
    key = ws.keyring.rotate(ws.passphrase(create=False))
    _audited(ws, key, "key.rotate", key.key_id, {})
    return KeyEvent("key.rotate", key.key_id, changed=True)


def trust_key(ws: "Workspace", pem_path: Path) -> KeyEvent:
    """Trust the public key in the PEM file ``pem_path``, signed into the ledger by the active key."""
    pem_path = Path(pem_path)
    if not pem_path.is_file():
        raise NotFoundError(f"no public key file {pem_path}", hint="give the path of a PEM public key")
    pem = pem_path.read_bytes()
    key = ws.signing_key()
    known = set(ws.trust.key_ids())
    try:
        key_id = ws.trust.add(pem, signer=key)
    except KeyMaterialError as exc:  # the parser does not know the file's name
        raise KeyMaterialError(f"{pem_path}: {exc.message}", hint=exc.hint) from None
    if key_id in known:
        return KeyEvent("key.trust", key_id, changed=False)
    _audited(ws, key, "key.trust", key_id, {"file": pem_path.name})
    return KeyEvent("key.trust", key_id, changed=True)


def revoke_key(ws: "Workspace", key_id: str, reason: str) -> KeyEvent:
    """Revoke ``key_id`` (never the active key), first re-signing the alias files it signed."""
    if not key_id:
        raise NotFoundError("keys revoke needs a KEY_ID", hint="see `python -m flows keys list`")
    if not reason.strip():
        raise InputError("a revocation needs a reason", hint="say why the key is revoked: --reason ...")
    if ws.keyring.exists() and key_id == ws.keyring.active_key_id():
        raise InputError(f"key {key_id[:16]} is the active signing key",
                         hint="run `python -m flows keys rotate` first, then revoke the old key")
    key = ws.signing_key()
    if key_id not in ws.trust.key_ids():
        raise NotFoundError(f"no trusted key {key_id[:16]!r} to revoke in {ws.home.keys}",
                            hint="list the keys with `python -m flows keys list`")
    if ws.trust.is_revoked(key_id):
        return KeyEvent("key.revoke", key_id, changed=False)
    # Re-signed before the revocation, while the key still verifies: a crash in between leaves
    # alias files signed by the active key and the key still trusted; the rerun revokes it.
    resigned = tuple(m for m in ws.registry.models()
                     if ws.registry.alias_signer(m) == key_id and ws.registry.resign_aliases(m, key))
    ws.trust.revoke(key_id, reason, signer=key)
    _audited(ws, key, "key.revoke", key_id, {"reason": reason, "aliases_resigned": list(resigned)})
    return KeyEvent("key.revoke", key_id, changed=True, aliases_resigned=resigned)


def verify_keys(ws: "Workspace") -> TrustCheck:
    """Replay the trust ledger (held to its witness mark) and match it with the audit trail."""
    events = [(e.action, str(e.details.get("key_id", ""))) for e in ws.audit.entries()
              if e.action.startswith("key.")]
    problems = ws.trust.audit_mismatches(events)
    if problems:
        raise IntegrityError(f"the trust ledger and the audit trail disagree: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             hint="restore keys/trust.jsonl and audit/ from a backup")
    size, head = ws.trust.head()
    return TrustCheck(entries=size, head_hash=head)
