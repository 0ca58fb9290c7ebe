"""Signed checkpoints of the audit log, and the signing Protocols governance accepts.

A checkpoint is the audit trail's equivalent of a transparency log's signed tree head: it signs
the canonical JSON of ``{size, head_hash, time}``, where ``size`` is the number of entries and
``head_hash`` the hash of the last of them. Because every entry's hash covers its predecessor's,
one signature vouches for the whole prefix, which is why entries themselves carry no signature.
Signing and verifying are done by objects another package provides (the registry's keys and
trust store); governance only states the shape it needs as :class:`Signer` (and takes
:class:`driftline.crypto.Verifier`, named here too), plus :class:`PemVerifier`, an offline verifier
over trusted public-key PEMs that auditors use with an exported bundle, built on the one key
parser and P-256 check in :mod:`driftline.crypto`. :class:`EntryMacKey` is the key-holder's mark on each
entry (see :func:`derive_entry_mac_key`): a checkpoint is only signed over entries that carry it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec

from driftline.canonical import canonical_b64decode, canonical_json
from driftline.crypto import PublicKey, Verifier, derive_secret, parse_public_pem, verify_p256
from driftline.errors import AuditChainError, SignatureError, UntrustedKeyError

__all__ = ["Checkpoint", "EntryMacKey", "SecretSource", "entry_mac_key_of",
           "PemVerifier", "Signer", "Verifier", "checkpoint_payload",
           "derive_entry_mac_key", "is_hex_digest", "sign_checkpoint"]

_HEX = frozenset("0123456789abcdef")
_MAC_SALT = b"driftline/audit"
_MAC_INFO = b"driftline audit entry mac v1 "


@runtime_checkable
class SecretSource(Protocol):
    """A signing key that derives secrets without handing out its private key (``SigningKey``)."""

    @property
    def key_id(self) -> str: ...

    def derive_secret(self, salt: bytes, info: bytes) -> bytes: ...


class Signer(Protocol):
    """Anything that signs bytes with ECDSA P-256 / SHA-256 (DER signature)."""

    # Read-only member: a frozen SigningKey (or a test double) only has to expose it.
    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


def is_hex_digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


@dataclass(frozen=True)
class Checkpoint:
    """One signed head of the audit log.

    Round-trip law: ``Checkpoint.from_line(c.to_line()) == c``. ``signature`` is base64 of the DER
    signature over :meth:`payload`.
    """

    size: int
    head_hash: str
    time: str
    key_id: str
    signature: str

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise AuditChainError(f"checkpoint size {self.size!r} is not a positive entry count",
                                  hint="a checkpoint can only be made over a non-empty log")
        if not is_hex_digest(self.head_hash):
            raise AuditChainError(f"checkpoint head_hash {self.head_hash!r} is not a sha256 hex digest")
        if not self.key_id or not isinstance(self.key_id, str):
            raise AuditChainError("checkpoint has no key_id")

    def payload(self) -> bytes:
        """The exact bytes that are signed."""
        return checkpoint_payload(self.size, self.head_hash, self.time)

    def signature_bytes(self) -> bytes:
        try:
            return canonical_b64decode(self.signature)
        except ValueError as exc:
            raise SignatureError(f"checkpoint at size {self.size} has a signature that is not canonical base64",
                                 hint="the checkpoint file was altered; restore it from a backup") from exc

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "head_hash": self.head_hash, "time": self.time,
                "key_id": self.key_id, "signature": self.signature}

    def to_line(self) -> bytes:
        return canonical_json(self.to_dict()) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> "Checkpoint":
        try:
            raw = json.loads(line)
            if set(raw) != {"size", "head_hash", "time", "key_id", "signature"}:
                raise ValueError(f"unexpected fields {sorted(raw)}")
            return cls(**raw)
        except (ValueError, TypeError) as exc:
            raise AuditChainError(f"unreadable checkpoint line: {exc}") from exc


def checkpoint_payload(size: int, head_hash: str, time: str) -> bytes:
    return canonical_json({"size": size, "head_hash": head_hash, "time": time})


def sign_checkpoint(signer: Signer, *, size: int, head_hash: str, time: str) -> Checkpoint:
    signature = signer.sign(checkpoint_payload(size, head_hash, time))
    return Checkpoint(size=size, head_hash=head_hash, time=time, key_id=signer.key_id,
                      signature=base64.b64encode(signature).decode("ascii"))


class PemVerifier:
    """An offline :class:`Verifier` over trusted ECDSA P-256 public keys given as PEM bytes.

    Keys are looked up by id only; a key whose label is not its key id
    (:func:`driftline.crypto.key_id_of`) is refused at construction, so a mislabelled key can never
    vouch for a signature. It knows no revocation: give it only the keys to trust.
    """

    def __init__(self, trusted: Mapping[str, bytes]) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key_id, pem in trusted.items():
            key = parse_public_pem(pem)
            if key.key_id != key_id:
                raise UntrustedKeyError(f"trusted key labelled {str(key_id)[:12]}… hashes to {key.key_id[:12]}…",
                                        hint="key ids are hex sha256 of the public key's canonical PEM")
            self._keys[key_id] = key

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise UntrustedKeyError(f"signature by unknown key {str(key_id)[:12]}…",
                                    hint="add the signer's public key to the trusted keys")
        verify_p256(key, data, signature, what=f"key {key_id[:12]}…")


@dataclass(frozen=True)
class EntryMacKey:
    """The MAC key of one signing key; ``repr`` names the key id only, never the secret."""

    key_id: str
    secret: bytes = field(repr=False)

    def mac(self, data: bytes) -> str:
        """Hex HMAC-SHA256 of ``data``."""
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def check(self, data: bytes, value: str) -> bool:
        return hmac.compare_digest(self.mac(data), value)

    def __reduce__(self) -> Any:
        raise TypeError("an EntryMacKey is never pickled: it would copy key material")


def derive_entry_mac_key(private: ec.EllipticCurvePrivateKey, key_id: str) -> EntryMacKey:
    """The audit entries' MAC key of a signing key, derived so no second secret needs keeping.

    Exactly: HKDF-SHA256 (RFC 5869) with input keying material the private scalar as 32 big-endian
    bytes, salt ``b"driftline/audit"``, info ``b"driftline audit entry mac v1 "`` followed by the
    key id in ASCII, output 32 bytes. Only a holder of the private key (that is, of its passphrase)
    can compute it; the key id in ``info`` keeps the MAC keys of two signing keys apart.
    """
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise AuditChainError("the audit MAC key derives from an ECDSA P-256 private key only")
    return EntryMacKey(key_id=key_id, secret=derive_secret(private, *mac_key_salt_info(key_id)))


def mac_key_salt_info(key_id: str) -> tuple[bytes, bytes]:
    """The (salt, info) of :func:`derive_entry_mac_key`, for ``SigningKey.derive_secret``."""
    return _MAC_SALT, _MAC_INFO + key_id.encode("ascii")


def entry_mac_key_of(key: SecretSource) -> EntryMacKey:
    """The MAC key of an unlocked signing key, derived inside it (the private key stays there);
    the same bytes as :func:`derive_entry_mac_key`."""
    return EntryMacKey(key_id=key.key_id, secret=key.derive_secret(*mac_key_salt_info(key.key_id)))
