"""P-256 public keys and ECDSA checks: the one parser of a public key and the one verifier.

Shared by the trust store, its ledger and model signatures, so that a key is normalised and a
signature checked in exactly one way (a second, lenient parser of a signed format is a weakness).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.errors import KeyMaterialError, SignatureError


def normalise_public_pem(public_pem: bytes) -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """Parse a P-256 public key and return its canonical PEM (the bytes the key id hashes)."""
    try:
        public = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError("not a PEM public key", hint="pass a SubjectPublicKeyInfo PEM") from exc
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise KeyMaterialError("only ECDSA P-256 public keys are supported",
                               hint="model signatures use P-256 (OpenSSF model-signing key mode)")
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public


def verify_ecdsa(public: ec.EllipticCurvePublicKey, data: bytes, signature: bytes, *, what: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is a valid DER ECDSA signature."""
    try:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify with {what}",
                             hint="the signed data or the signature was changed") from None
