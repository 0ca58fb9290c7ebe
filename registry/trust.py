"""The trust store: which public keys may sign registry versions, alias files and audit entries.

The source of truth is the signed, hash-chained ledger ``keys/trust.jsonl`` (see
:mod:`registry.ledger`): a key is trusted when a valid ledger entry added it and revoked when one
revoked it. ``trusted/<key_id>.pub`` and ``revoked/<key_id>.json`` are written beside it as a
human-readable mirror (``model_signing verify key ... --public_key keys/trusted/<id>.pub`` works
on them) but are never read to decide anything: a ``.pub`` dropped there without a ledger entry
is ignored, a deleted revocation file changes nothing. Adding or revoking a key needs a signer
that the ledger already trusts. State is rebuilt by replaying the whole ledger, cached per
instance while the file's size, times and inode stay the same. Rolling the ledger back (cutting
its tail) is caught by :meth:`TrustStore.check_prefix` against a mark kept outside the data home.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from filelock import FileLock

from driftline.atomic import fault_point, write_atomic
from driftline.canonical import canonical_json
from driftline.crypto import is_key_id, parse_public_pem, verify_p256
from driftline.errors import IntegrityError, KeyMaterialError, NotFoundError, UntrustedKeyError
from registry.ledger import Signer, TrustState, encode, make_entry, read_bytes, replay

LEDGER = "trust.jsonl"

__all__ = ["LedgerWitness", "TrustStore", "check_witnessed"]


class LedgerWitness(Protocol):
    """A mark of the ledger kept outside the data home (governance's witness, adapted by the
    workspace): what :meth:`TrustStore.state` checks every fresh replay against, then advances."""

    def seen(self) -> tuple[int, str] | None: ...

    def advance(self, size: int, head_hash: str) -> None: ...


class TrustStore:
    """Trusted public keys and their revocations, as the ledger under ``root`` (``keys/``) says.

    With a ``witness``, every fresh replay must still start with the witnessed mark (else
    :class:`IntegrityError`: the ledger was rolled back or rewritten), and then moves the mark to
    the ledger's head. Moving it on a read is safe: every entry the replay accepted is signed by a
    key the ledger already trusted, which the data home's writer cannot forge.
    """

    def __init__(self, root: Path, *, witness: LedgerWitness | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.root = Path(root)
        self._witness = witness
        self._clock = clock  # the entries' time; injectable for reproducible golden files
        self._cache: tuple[tuple[int, int, int, int], TrustState] | None = None

    @property
    def ledger(self) -> Path:
        return self.root / LEDGER

    # ----------------------------------------------------------------- state
    def state(self) -> TrustState:
        """The replayed ledger; :class:`IntegrityError` if it is broken or missing beside keys."""
        try:
            st = os.stat(self.ledger)
        except FileNotFoundError:
            # A private key alone is a first `init` cut short; public keys or an active pointer
            # without a ledger are an older release's keys folder (or a deleted ledger).
            if any((self.root / d).is_dir() and any((self.root / d).iterdir())
                   for d in ("trusted", "revoked")) or (self.root / "active").exists():
                raise IntegrityError(
                    f"{self.root} holds keys but no trust ledger {LEDGER} (made by an older release?)",
                    hint="trust is never migrated silently, which would bless a planted key: create a new "
                         "data home with `python -m flows keys init` and re-register its models") from None
            check_witnessed(self._witness, (), what=f"the trust ledger {self.ledger}")
            return TrustState()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        raw = read_bytes(self.ledger) or b""
        state = replay(raw, where=str(self.ledger))
        check_witnessed(self._witness, state.hashes, what=f"the trust ledger {self.ledger}")
        self._cache = (stamp, state)
        return state

    def head(self) -> tuple[int, str]:
        """``(entries, hash of the last entry)``: the mark a witness outside the data home keeps."""
        return self.state().head

    def check_prefix(self, size: int, head_hash: str) -> None:
        """Raise :class:`IntegrityError` unless the ledger still starts with the mark ``(size, head_hash)``:
        shorter means rolled back (a revocation or trust removed), different means rewritten."""
        check_mark(self.state().hashes, size, head_hash, what=f"the trust ledger {self.ledger}")

    # --------------------------------------------------------------- writing
    def _append(self, *, action: str, key_id: str, signer: Signer, pem: bytes | None = None,
                reason: str = "") -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / ".trust.lock"), timeout=60):
            state = self.state()
            if action == "root" and state.hashes:
                raise KeyMaterialError(f"{self.ledger} already has a root key",
                                       hint="use `python -m flows keys rotate` or `keys trust`")
            if action != "root":
                self.public_key(signer.key_id)  # the signer must be trusted and unrevoked now
            entry = make_entry(state, action=action, key_id=key_id, signer=signer, pem=pem, reason=reason,
                               clock=self._clock)
            fault_point("trust.signed")
            write_atomic(self.ledger, (read_bytes(self.ledger) or b"") + encode(entry), mode=0o644)
            fault_point("trust.appended")
        self._mirror()

    def _mirror(self) -> None:
        """Refresh the human-readable ``trusted/`` and ``revoked/`` files from the ledger."""
        state = self.state()
        for key_id, pem in state.pems.items():
            path = self.root / "trusted" / f"{key_id}.pub"
            if read_bytes(path) != pem:
                write_atomic(path, pem, mode=0o644)
        for key_id, reason in state.revoked.items():
            path = self.root / "revoked" / f"{key_id}.json"
            if not path.exists():
                write_atomic(path, canonical_json({"key_id": key_id, "reason": reason}) + b"\n")

    def init_root(self, key: Signer) -> str:
        """Start the ledger with ``key`` as its self-signed root (``KeyRing.init`` calls this)."""
        self._append(action="root", key_id=key.key_id, signer=key, pem=parse_public_pem(key.public_pem).pem)
        return key.key_id

    def add(self, public_pem: bytes, *, signer: Signer, action: str = "trust") -> str:
        """Trust a public key, signed by an already trusted ``signer``; returns its key id.

        Adding a key already in the ledger changes nothing (a revoked one stays revoked).
        """
        if action not in ("trust", "rotate"):
            raise KeyMaterialError(f"unknown trust action {action!r}", hint="trust or rotate")
        parsed = parse_public_pem(public_pem)
        pem, key_id = parsed.pem, parsed.key_id
        if key_id not in self.state().pems:
            self._append(action=action, key_id=key_id, signer=signer, pem=pem)
        return key_id

    def revoke(self, key_id: str, reason: str, *, signer: Signer) -> None:
        """Revoke a trusted key (signed by a trusted ``signer``): what it signed fails verification."""
        if not reason.strip():
            raise KeyMaterialError("a revocation needs a reason", hint="say why the key is revoked")
        if not isinstance(key_id, str) or key_id not in self.state().pems:
            raise NotFoundError(f"no trusted key {str(key_id)[:16]!r} to revoke in {self.root}",
                                hint="list the keys with `python -m flows keys list`")
        if not self.is_revoked(key_id):
            self._append(action="revoke", key_id=key_id, signer=signer, reason=reason)

    # --------------------------------------------------------------- reading
    def key_ids(self) -> list[str]:
        """Every key the ledger trusts, revoked ones included (see :meth:`is_revoked`)."""
        return sorted(self.state().pems)

    def untrusted_files(self) -> list[str]:
        """Names of ``trusted/*.pub`` files that no ledger entry backs (ignored; shown by ``keys list``)."""
        folder = self.root / "trusted"
        known = self.state().pems
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.stem not in known or read_bytes(p) != known[p.stem])

    def is_revoked(self, key_id: str) -> bool:
        return key_id in self.state().revoked

    def revocation_reason(self, key_id: str) -> str | None:
        return self.state().revoked.get(key_id)

    def added_by(self, key_id: str) -> str | None:
        """The ledger action that added ``key_id`` (root, trust or rotate), if any."""
        return self.state().actions.get(key_id)

    def public_pems(self, *, include_revoked: bool = True) -> dict[str, bytes]:
        """Every trusted key as key id -> PEM (for exports and offline checks of old signatures)."""
        state = self.state()
        return {k: pem for k, pem in sorted(state.pems.items()) if include_revoked or k not in state.revoked}

    def public_pem(self, key_id: str, *, include_revoked: bool = False) -> bytes:
        """The PEM of a trusted key; :class:`UntrustedKeyError` if unknown (or revoked, unless
        ``include_revoked``, for checking content signed before the revocation: re-signing, exports)."""
        if not is_key_id(key_id):
            raise UntrustedKeyError(f"{key_id!r} is not a key id (hex sha256 of a public key)",
                                    hint="the signature names no key driftline knows")
        state = self.state()
        pem = state.pems.get(key_id)
        if pem is None:
            raise UntrustedKeyError(f"key {key_id[:16]} is not in the trust ledger {self.ledger}",
                                    hint="if you trust it, add its public key with "
                                         "`python -m flows keys trust KEY.pub`")
        if not include_revoked and key_id in state.revoked:
            raise UntrustedKeyError(
                f"key {key_id[:16]} was revoked ({state.revoked[key_id]})",
                hint="re-sign what it signed with the active key: `python -m flows registry resign --all`")
        return pem

    def audit_mismatches(self, key_events: Iterable[tuple[str, str]]) -> list[str]:
        """Compare the ledger with the audit trail's ``(action, key_id)`` pairs of ``key.*`` entries.

        Each ledger entry should have its audit entry (root: ``key.init``, trust: ``key.trust``,
        rotate: ``key.rotate``, revoke: ``key.revoke``) and the other way round; returns one line
        per difference (empty when they agree).
        """
        expected = {"root": "key.init", "trust": "key.trust", "rotate": "key.rotate", "revoke": "key.revoke"}
        self.state()  # the ledger itself must verify first
        raw = read_bytes(self.ledger)
        lines = [] if raw is None else raw.splitlines()
        ledger = [(expected[e["action"]], e["key_id"]) for e in map(json.loads, lines)]
        audited = [(a, k) for a, k in key_events if a in expected.values()]
        problems = [f"ledger {a} of key {k[:16]} has no audit entry" for a, k in ledger if (a, k) not in audited]
        problems += [f"audit {a} of key {k[:16]} has no ledger entry" for a, k in audited if (a, k) not in ledger]
        return problems

    def public_key(self, key_id: str) -> ec.EllipticCurvePublicKey:
        """The trusted, unrevoked public key; :class:`UntrustedKeyError` otherwise."""
        return parse_public_pem(self.public_pem(key_id)).key

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        """Check an ECDSA P-256/SHA-256 signature by a trusted, unrevoked key."""
        verify_p256(self.public_key(key_id), data, signature, what=f"key {key_id[:16]}")


def check_mark(hashes: tuple[str, ...], size: int, head_hash: str, *, what: str) -> None:
    """:class:`IntegrityError` unless a signed, append-only log (``hashes``: the hash after each
    entry) still starts with the mark: shorter is rolled back, different at the mark rewritten."""
    if size > len(hashes):
        raise IntegrityError(f"{what} has {len(hashes)} entries, the witness saw {size}",
                             hint="it was rolled back (entries taken off its end); restore it from a backup")
    if size and hashes[size - 1] != head_hash:
        raise IntegrityError(f"entry {size} of {what} differs from the witnessed one",
                             hint="it was rewritten; restore it from a backup")


def check_witnessed(witness: LedgerWitness | None, hashes: tuple[str, ...], *, what: str) -> None:
    """Hold a signed log to its witnessed mark (:func:`check_mark`), then move the mark to its head.
    Only logs whose every entry was just verified as signed come here, so moving is safe."""
    if witness is None:
        return
    mark = witness.seen()
    if mark is not None:
        check_mark(hashes, *mark, what=what)
    if hashes and (mark is None or len(hashes) > mark[0]):
        witness.advance(len(hashes), hashes[-1])
