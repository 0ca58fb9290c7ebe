"""The trust store: which public keys may sign registry versions and audit entries.

Keys live under the data home's ``keys/`` as ``trusted/<key_id>.pub`` (SubjectPublicKeyInfo
PEM, the key id being the hex sha256 of those bytes, as the signature bundle's ``hint``), and
revocations as ``revoked/<key_id>.json`` (reason and time). A revoked key stays on disk so that
an operator can still check what it signed before re-signing, but :meth:`TrustStore.public_key`
and :meth:`TrustStore.verify` refuse it. Both the registry and the audit trail verify through
this one class, so that trust is decided in one place and fails closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.atomic import write_atomic
from driftline.canonical import canonical_json
from driftline.errors import KeyMaterialError, NotFoundError, SignatureError, UntrustedKeyError

_KEY_ID = re.compile(r"^[0-9a-f]{64}$")


def normalise_public_pem(public_pem: bytes) -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """Parse a P-256 public key and return its canonical PEM (the bytes the key id hashes)."""
    try:
        public = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError("not a PEM public key", hint="pass a SubjectPublicKeyInfo PEM") from exc
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise KeyMaterialError("only ECDSA P-256 public keys are supported",
                               hint="model signatures use P-256 (OpenSSF model-signing key mode)")
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public


class TrustStore:
    """Trusted public keys and their revocations under ``root`` (the data home's ``keys/``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _trusted(self, key_id: str) -> Path:
        return self.root / "trusted" / f"{key_id}.pub"

    def _revocation(self, key_id: str) -> Path:
        return self.root / "revoked" / f"{key_id}.json"

    def add(self, public_pem: bytes) -> str:
        """Trust a public key; returns its key id. Adding a revoked key does not un-revoke it."""
        pem, _ = normalise_public_pem(public_pem)
        key_id = hashlib.sha256(pem).hexdigest()
        path = self._trusted(key_id)
        if not path.exists():
            write_atomic(path, pem, mode=0o644)
        return key_id

    def key_ids(self) -> list[str]:
        """Every trusted key id, revoked ones included (see :meth:`is_revoked`)."""
        folder = self.root / "trusted"
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.pub") if _KEY_ID.match(p.stem))

    def is_revoked(self, key_id: str) -> bool:
        return _KEY_ID.match(key_id) is not None and self._revocation(key_id).exists()

    def revocation_reason(self, key_id: str) -> str | None:
        try:
            return json.loads(self._revocation(key_id).read_bytes())["reason"]
        except FileNotFoundError:
            return None

    def revoke(self, key_id: str, reason: str) -> None:
        """Revoke a trusted key: what it signed fails verification until re-signed."""
        if not reason.strip():
            raise KeyMaterialError("a revocation needs a reason", hint="say why the key is revoked")
        if not _KEY_ID.match(key_id) or not self._trusted(key_id).exists():
            raise NotFoundError(f"no trusted key {key_id[:16]!r} to revoke in {self.root}",
                                hint="list the keys with TrustStore.key_ids()")
        if self.is_revoked(key_id):
            return
        record = {"key_id": key_id, "reason": reason,
                  "revoked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        write_atomic(self._revocation(key_id), canonical_json(record) + b"\n")

    def public_pems(self, *, include_revoked: bool = True) -> dict[str, bytes]:
        """Every trusted key as key id -> PEM (for exports and offline checks of old signatures)."""
        return {k: self.public_pem(k, include_revoked=True) for k in self.key_ids()
                if include_revoked or not self.is_revoked(k)}

    def public_pem(self, key_id: str, *, include_revoked: bool = False) -> bytes:
        """The PEM of a trusted key; :class:`UntrustedKeyError` if unknown (or revoked, unless
        ``include_revoked``, for checking content signed before the revocation: re-signing, exports)."""
        if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
            raise UntrustedKeyError(f"{key_id!r} is not a key id (hex sha256 of a public key)",
                                    hint="the signature names no key driftline knows")
        try:
            pem = self._trusted(key_id).read_bytes()
        except FileNotFoundError:
            raise UntrustedKeyError(f"key {key_id[:16]} is not in the trust store {self.root}",
                                    hint="if you trust it, add its public key with `python -m flows keys trust KEY.pub`") from None
        if hashlib.sha256(pem).hexdigest() != key_id:
            raise UntrustedKeyError(f"trusted key file for {key_id[:16]} does not match its key id",
                                    hint="the trust store was altered; restore it from a backup")
        if not include_revoked and self.is_revoked(key_id):
            raise UntrustedKeyError(
                f"key {key_id[:16]} was revoked ({self.revocation_reason(key_id)})",
                hint="re-sign what it signed with the active key: `python -m flows registry resign --all`")
        return pem

    def public_key(self, key_id: str) -> ec.EllipticCurvePublicKey:
        """The trusted, unrevoked public key; :class:`UntrustedKeyError` otherwise."""
        return normalise_public_pem(self.public_pem(key_id))[1]

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        """Check an ECDSA P-256/SHA-256 signature by a trusted, unrevoked key."""
        verify_ecdsa(self.public_key(key_id), data, signature, what=f"key {key_id[:16]}")


def verify_ecdsa(public: ec.EllipticCurvePublicKey, data: bytes, signature: bytes, *, what: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is a valid DER ECDSA signature."""
    try:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify with {what}",
                             hint="the signed data or the signature was changed") from None
