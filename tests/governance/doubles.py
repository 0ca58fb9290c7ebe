"""Test doubles shared by the governance tests: a signer shaped like registry.keys.SigningKey,
so governance is tested without importing the registry (it depends only on the Protocols)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.crypto import key_id_of


class EcdsaSigner:
    """ECDSA P-256 over SHA-256; ``key_id`` is the sha256 of the public PEM, as in the registry."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = key_id_of(self.pem)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
