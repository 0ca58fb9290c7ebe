"""One behaviour suite for every :class:`driftline.crypto.Verifier` (Optuna's ``StorageTestCase``
is the model): the trust store, the offline ``PemVerifier`` and the governance tests' stand-in for
the trust store all answer a signature the same way. A verifier that is lenient in one place is a
weakness everywhere, so a new implementation joins ``IMPLEMENTATIONS`` and passes this suite.

Each implementation is built by a factory from ``{label: pem}`` (the label normally being the
key id) and the keys to revoke; a factory that cannot express revocation says so and those
cases are skipped for it. Trust-store ledgers are written entry by entry with
``registry.ledger.make_entry``, not through ``TrustStore.add``, so that a mislabelled or
non-P-256 key reaches the *reader* the way a forged ledger would.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from driftline.canonical import sha256_hex
from driftline.crypto import Bundle, Verifier, key_id_of, pae
from driftline.errors import DriftlineError, IntegrityError, SignatureError, UntrustedKeyError
from governance.checkpoints import Checkpoint, PemVerifier
from registry.keys import SigningKey
from registry.ledger import TrustState, encode, make_entry
from registry.trust import TrustStore
from tests.governance.test_audit import RevocableVerifier

DATA = b"the bytes that were signed"


def new_key() -> SigningKey:
    return SigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1()))


def _trust_store(tmp_path: Path, trusted: Mapping[str, bytes], revoked: Sequence[str]) -> Verifier:
    admin = new_key()
    hashes: tuple[str, ...] = ()
    lines = b""
    plan = [("root", admin.key_id, admin.public_pem, "")]
    plan += [("trust", label, pem, "") for label, pem in trusted.items()]
    plan += [("revoke", key_id, None, "compromised in a test") for key_id in revoked]
    for action, key_id, pem, reason in plan:
        entry = make_entry(TrustState(hashes=hashes), action=action, key_id=key_id, signer=admin, pem=pem,
                           reason=reason)
        lines += encode(entry)
        hashes += (entry["hash"],)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "trust.jsonl").write_bytes(lines)
    return TrustStore(tmp_path / "keys")


def _pem_verifier(tmp_path: Path, trusted: Mapping[str, bytes], revoked: Sequence[str]) -> Verifier:
    if revoked:
        pytest.skip("PemVerifier knows no revocation: it is given only the keys to trust")
    return PemVerifier(trusted)


@dataclass
class _Labelled:
    key_id: str
    pem: bytes


def _revocable(tmp_path: Path, trusted: Mapping[str, bytes], revoked: Sequence[str]) -> Verifier:
    return RevocableVerifier([_Labelled(k, pem) for k, pem in trusted.items()], revoked=revoked)


Factory = Callable[[Path, Mapping[str, bytes], Sequence[str]], Verifier]
IMPLEMENTATIONS: dict[str, Factory] = {"TrustStore": _trust_store, "PemVerifier": _pem_verifier,
                                       "RevocableVerifier (governance tests)": _revocable}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def build(request, tmp_path: Path) -> Callable[..., Verifier]:
    factory = IMPLEMENTATIONS[request.param]
    return lambda trusted, revoked=(): factory(tmp_path, trusted, revoked)


def flipped(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset % len(changed)] ^= 0x01
    return bytes(changed)


def other_pems() -> dict[str, bytes]:
    """Public keys that are not ECDSA P-256."""
    def pem(private) -> bytes:
        return private.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"P-384": pem(ec.generate_private_key(ec.SECP384R1())),
            "Ed25519": pem(ed25519.Ed25519PrivateKey.generate()),
            "RSA-2048": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))}


class TestVerifierBehaviour:
    def test_every_implementation_is_a_verifier(self, build) -> None:
        assert isinstance(build({}), Verifier)

    def test_a_good_signature_verifies(self, build) -> None:
        key = new_key()
        build({key.key_id: key.public_pem}).verify(key.key_id, DATA, key.sign(DATA))

    @pytest.mark.parametrize("offset", [0, len(DATA) // 2, -1])
    def test_flipped_data_is_a_signature_error(self, build, offset: int) -> None:
        key = new_key()
        with pytest.raises(SignatureError):
            build({key.key_id: key.public_pem}).verify(key.key_id, flipped(DATA, offset), key.sign(DATA))

    @pytest.mark.parametrize("offset", [0, 1, 3, 20, 40, -1])
    def test_a_flipped_signature_byte_is_a_signature_error(self, build, offset: int) -> None:
        key = new_key()
        with pytest.raises(SignatureError):
            build({key.key_id: key.public_pem}).verify(key.key_id, DATA, flipped(key.sign(DATA), offset))

    @pytest.mark.parametrize("signature", [b"", b"\x30\x00", "a string", None])
    def test_a_signature_that_is_no_der_signature_is_a_signature_error(self, build, signature) -> None:
        key = new_key()
        with pytest.raises(SignatureError):
            build({key.key_id: key.public_pem}).verify(key.key_id, DATA, signature)

    def test_a_signature_by_another_trusted_key_is_a_signature_error(self, build) -> None:
        one, two = new_key(), new_key()
        verifier = build({one.key_id: one.public_pem, two.key_id: two.public_pem})
        with pytest.raises(SignatureError):
            verifier.verify(one.key_id, DATA, two.sign(DATA))

    def test_an_unknown_key_is_untrusted(self, build) -> None:
        trusted, stranger = new_key(), new_key()
        with pytest.raises(UntrustedKeyError):
            build({trusted.key_id: trusted.public_pem}).verify(stranger.key_id, DATA, stranger.sign(DATA))

    @pytest.mark.parametrize("key_id", ["", "0" * 63, "G" * 64, None, 7])
    def test_a_malformed_key_id_is_untrusted_not_a_crash(self, build, key_id) -> None:
        key = new_key()
        with pytest.raises(UntrustedKeyError):
            build({key.key_id: key.public_pem}).verify(key_id, DATA, key.sign(DATA))

    def test_a_key_labelled_with_another_keys_id_never_vouches(self, build) -> None:
        key, other = new_key(), new_key()
        # Whether refused when built or when asked, the mislabelled key verifies nothing.
        with pytest.raises(IntegrityError):
            build({other.key_id: key.public_pem}).verify(other.key_id, DATA, key.sign(DATA))

    def test_a_revoked_key_is_untrusted(self, build) -> None:
        kept, gone = new_key(), new_key()
        verifier = build({kept.key_id: kept.public_pem, gone.key_id: gone.public_pem}, revoked=[gone.key_id])
        verifier.verify(kept.key_id, DATA, kept.sign(DATA))
        with pytest.raises(UntrustedKeyError):
            verifier.verify(gone.key_id, DATA, gone.sign(DATA))

    @pytest.mark.parametrize("kind", ["P-384", "Ed25519", "RSA-2048"])
    def test_a_key_that_is_not_p256_is_refused(self, build, kind: str) -> None:
        pem = other_pems()[kind]
        label = sha256_hex(pem)
        # Refused when built (KeyMaterialError for a caller's bad key) or, from a forged ledger,
        # when asked (IntegrityError): never a foreign exception, never a verification.
        with pytest.raises(DriftlineError):
            build({label: pem}).verify(label, DATA, b"\x30\x06\x02\x01\x01\x02\x01\x01")

    @pytest.mark.parametrize("label", ["key id", "hash of the damaged bytes"])
    @pytest.mark.parametrize("offset", [40, 70, 100])
    def test_a_damaged_pem_is_refused_as_a_driftline_error(self, build, offset: int, label: str) -> None:
        key = new_key()
        pem = flipped(key.public_pem, offset)  # byte 40 lies in the algorithm identifier
        key_id = key.key_id if label == "key id" else sha256_hex(pem)
        with pytest.raises(DriftlineError):
            build({key_id: pem}).verify(key_id, DATA, key.sign(DATA))


# Base64 is the carriers' business (a Verifier takes bytes): each carrier of a signature refuses a
# non-canonical encoding, such as a flipped unused bit before the padding, which a lenient decoder
# maps to the same bytes, so the signature would stay valid on a changed file.
def _non_canonical(text: str) -> str:
    assert text.endswith("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = text.rstrip("=")
    last = alphabet[alphabet.index(body[-1]) ^ 0x01]
    changed = body[:-1] + last + text[len(body):]
    assert base64.b64decode(changed) == base64.b64decode(text)
    return changed


def test_the_bundle_refuses_a_non_canonical_signature_encoding() -> None:
    key = new_key()
    payload = b'{"x":1}'
    signature = key.sign(pae("application/vnd.in-toto+json", payload))
    while not base64.b64encode(signature).endswith(b"="):
        signature = key.sign(pae("application/vnd.in-toto+json", payload))  # DER length varies
    raw = Bundle(payload=payload, signature=signature, key_hint=key.key_id).encode()
    text = base64.b64encode(signature).decode()
    with pytest.raises(SignatureError, match="canonical base64"):
        Bundle.decode(raw.replace(text.encode(), _non_canonical(text).encode()))


def test_a_checkpoint_refuses_a_non_canonical_signature_encoding() -> None:
    key = new_key()
    signature = key.sign(b"x")
    while not base64.b64encode(signature).endswith(b"="):
        signature = key.sign(b"x")
    cp = Checkpoint(size=1, head_hash="a" * 64, time="t", key_id=key_id_of(key.public_pem),
                    signature=_non_canonical(base64.b64encode(signature).decode()))
    with pytest.raises(SignatureError):
        cp.signature_bytes()
