"""The signing format's primitives, each implemented once, for the registry and governance alike.

A verifier that is lenient in one place is a weakness everywhere, so every check of a signature
in driftline goes through this module. Its contracts:

- :func:`parse_public_pem` reads an ECDSA P-256 SubjectPublicKeyInfo PEM and returns a
  :class:`PublicKey` holding its *canonical* PEM (what ``cryptography`` writes back) and key id.
  Anything else (not PEM, another algorithm or curve, bytes ``cryptography`` cannot even name)
  is :class:`KeyMaterialError`; no foreign exception escapes.
- :func:`key_id_of` is the key id used everywhere (the bundle's ``publicKey.hint``, the trust
  ledger, checkpoints, alias files): hex sha256 of the canonical PEM, as ``model_signing``
  computes it. A PEM with other line breaks names the same key, so it gets the same id.
- :func:`verify_p256` checks a DER ECDSA P-256/SHA-256 signature; any mismatch (or a signature
  that is not bytes) is :class:`SignatureError`. Unknown and revoked keys are the
  :class:`Verifier`'s business and are :class:`UntrustedKeyError`.
- :func:`derive_secret` is THE derivation of a secret from a signing key (the audit entries' MAC
  key, the export's PII hash key): HKDF-SHA256 (RFC 5869) over the P-256 private scalar as 32
  big-endian bytes, with the caller's salt and info, 32 bytes out. One-way: a derived secret
  reveals nothing of the key, and two (salt, info) pairs give unrelated secrets.
- :func:`pae` is the DSSE v1 pre-authentication encoding, the bytes a model signature covers.
- :meth:`Bundle.decode` is THE decoder of a model signature (Sigstore bundle v0.3, one DSSE
  envelope, key mode). It is strict: unknown or duplicate fields, non-canonical base64, another
  layout than compact JSON are :class:`SignatureError`, so no byte of a bundle changes unseen.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from driftline.canonical import canonical_b64decode, canonical_json, sha256_hex
from driftline.errors import KeyMaterialError, SignatureError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

__all__ = ["BUNDLE_MEDIA_TYPE", "IN_TOTO_PAYLOAD_TYPE", "Bundle", "PublicKey", "Verifier", "derive_secret", "is_key_id",
           "key_id_of", "pae", "parse_public_pem", "verify_p256"]


@runtime_checkable
class Verifier(Protocol):
    """Anything that checks a signature by key id and raises an ``IntegrityError`` subclass:
    :class:`UntrustedKeyError` for a key it does not trust (unknown, revoked, mislabelled),
    :class:`SignatureError` for a signature that does not hold. ``tests/crypto`` holds every
    implementation to this."""

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None: ...


@dataclass(frozen=True)
class PublicKey:
    """A parsed P-256 public key. Round-trip law: ``parse_public_pem(k.pem) == k`` and
    ``k.key_id == sha256_hex(k.pem)`` (the canonical PEM is a fixed point)."""

    pem: bytes
    key_id: str
    key: ec.EllipticCurvePublicKey = field(compare=False, repr=False)


def is_key_id(value: object) -> bool:
    return isinstance(value, str) and bool(_HEX64.match(value))


def parse_public_pem(public_pem: bytes) -> PublicKey:
    """Parse an ECDSA P-256 public key PEM; :class:`KeyMaterialError` for anything else."""
    if not isinstance(public_pem, (bytes, bytearray)):
        raise KeyMaterialError(f"a public key must be PEM bytes, got {type(public_pem).__name__}",
                               hint="pass the contents of a .pub file")
    try:
        public = serialization.load_pem_public_key(bytes(public_pem))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # UnsupportedAlgorithm is what a flipped byte in the algorithm identifier gives.
        raise KeyMaterialError(f"not a PEM public key ({type(exc).__name__})",
                               hint="pass a SubjectPublicKeyInfo PEM of an ECDSA P-256 key") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise KeyMaterialError("only ECDSA P-256 public keys are supported",
                               hint="model signatures use P-256 (OpenSSF model-signing key mode)")
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKey(pem=pem, key_id=sha256_hex(pem), key=public)


def key_id_of(public_pem: bytes) -> str:
    """The key id: hex sha256 of the key's canonical SubjectPublicKeyInfo PEM (the bundle's hint)."""
    return parse_public_pem(public_pem).key_id


def verify_p256(public: PublicKey | ec.EllipticCurvePublicKey, data: bytes, signature: bytes, *,
                what: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is a valid DER ECDSA P-256/SHA-256
    signature of ``data``; ``what`` names the key (and the file) in the message."""
    key = public.key if isinstance(public, PublicKey) else public
    if not isinstance(signature, bytes) or not isinstance(data, bytes):
        raise SignatureError(f"the signature checked with {what} is not bytes",
                             hint="the signature field was changed")
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify with {what}",
                             hint="the signed data or the signature was changed") from None


def derive_secret(private: ec.EllipticCurvePrivateKey, salt: bytes, info: bytes) -> bytes:
    """32 bytes of HKDF-SHA256 over ``private``'s scalar (see the module doc); P-256 keys only."""
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise KeyMaterialError("a secret derives from an ECDSA P-256 private key only",
                               hint="load the signing key from the KeyRing")
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(scalar)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what a DSSE signature actually covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Bundle:
    """One decoded signature bundle. Round-trip law: ``Bundle.decode(b.encode()) == b``.

    ``key_hint`` is ``""`` only for bundles of the pre-1.0 layout that named no key.
    """

    payload: bytes
    signature: bytes
    key_hint: str
    payload_type: str = IN_TOTO_PAYLOAD_TYPE

    def __post_init__(self) -> None:
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise SignatureError(f"DSSE payload type is {str(self.payload_type)[:80]!r}, expected "
                                 f"{IN_TOTO_PAYLOAD_TYPE!r}", hint="this is not a model signature")
        if self.key_hint and not is_key_id(self.key_hint):
            raise SignatureError(f"the bundle's key hint {self.key_hint[:70]!r} is not a hex sha256",
                                 hint="the signature file was changed")
        if not self.payload or not self.signature:
            raise SignatureError("the bundle has an empty payload or signature",
                                 hint="the signature file was changed or truncated")

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def encode(self) -> bytes:
        """Compact JSON, keys sorted (canonical JSON), as ``model_signing`` reads it."""
        return canonical_json({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"hint": self.key_hint}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [{"sig": base64.b64encode(self.signature).decode("ascii"), "keyid": ""}],
            },
        })

    @classmethod
    def decode(cls, raw: bytes) -> "Bundle":
        """Parse a bundle; :class:`SignatureError` naming the first thing that is wrong."""
        try:
            doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SignatureError(f"the signature file is not valid JSON ({str(exc)[:120]})",
                                 hint="the signature file was changed or truncated") from None
        # Both writers we know (model_signing's to_json and ours) emit compact JSON. Requiring
        # that layout makes white-space edits to the container visible as tampering.
        if json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8") != raw:
            raise SignatureError("the signature file is not in compact JSON layout",
                                 hint="the signature file was reformatted or changed")
        _keys(doc, "bundle", required={"mediaType", "verificationMaterial", "dsseEnvelope"})
        if doc["mediaType"] != BUNDLE_MEDIA_TYPE:
            raise SignatureError(f"bundle media type is {str(doc['mediaType'])[:80]!r}, expected "
                                 f"{BUNDLE_MEDIA_TYPE!r}", hint="re-sign with a current signer")
        material = doc["verificationMaterial"]
        _keys(material, "verificationMaterial", required={"publicKey"}, optional={"tlogEntries"})
        if material.get("tlogEntries", []) != []:
            raise SignatureError("the bundle carries transparency-log entries",
                                 hint="only key-mode bundles (no Rekor entries) are supported")
        public_key = material["publicKey"]
        _keys(public_key, "publicKey", required=set(), optional={"hint"})
        hint = public_key.get("hint", "")
        envelope = doc["dsseEnvelope"]
        _keys(envelope, "dsseEnvelope", required={"payload", "payloadType", "signatures"})
        signatures = envelope["signatures"]
        if not isinstance(signatures, list) or len(signatures) != 1:
            raise SignatureError("the DSSE envelope must hold exactly one signature",
                                 hint="the signature file was changed")
        _keys(signatures[0], "signature", required={"sig"}, optional={"keyid"})
        if signatures[0].get("keyid", "") not in ("", hint):
            raise SignatureError("the DSSE signature's keyid disagrees with the key hint",
                                 hint="the signature file was changed")
        if not isinstance(hint, str) or not isinstance(envelope["payloadType"], str):
            raise SignatureError("the bundle's hint or payload type is not a string",
                                 hint="the signature file was changed")
        return cls(payload=_strict_b64(envelope["payload"], "payload"),
                   signature=_strict_b64(signatures[0]["sig"], "signature"),
                   key_hint=hint, payload_type=envelope["payloadType"])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return result


def _keys(obj: Any, where: str, *, required: set[str], optional: frozenset[str] | set[str] = frozenset()) -> None:
    if not isinstance(obj, dict):
        raise SignatureError(f"{where} is not a JSON object", hint="the signature file was changed")
    missing = required - obj.keys()
    unknown = obj.keys() - required - optional
    if missing or unknown:
        raise SignatureError(f"{where} has missing fields {sorted(missing)} or unknown fields "
                             f"{sorted(unknown)[:5]}", hint="the signature file was changed")


def _strict_b64(value: Any, where: str) -> bytes:
    """Decode base64, refusing anything that does not re-encode to the same text (padding bits)."""
    try:
        return canonical_b64decode(value)
    except ValueError as exc:
        raise SignatureError(f"the bundle's {where} is not canonical base64",
                             hint="the signature file was changed") from exc
