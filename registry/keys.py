"""Signing keys: the one ECDSA P-256 key pair that signs registry versions and audit entries.

:class:`KeyRing` keeps the data home's ``keys/`` folder: each private key encrypted at rest
(PKCS#8 with the best encryption ``cryptography`` offers for the passphrase), file mode 0600,
one ``active`` pointer naming the key that signs now, and every public key in the
:class:`~registry.trust.TrustStore`'s signed ledger so that versions signed before a rotation stay
verifiable: ``init`` writes the ledger's self-signed root, ``rotate`` an entry signed by the key
it replaces. :func:`resolve_passphrase` finds the passphrase (environment, then file, then a
prompt). Neither the passphrase nor private material ever appears in a message or a ``repr``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.atomic import fault_point, write_atomic
from driftline.crypto import derive_secret, is_key_id, key_id_of
from driftline.errors import KeyMaterialError
from registry.trust import LedgerWitness, TrustStore


@dataclass(frozen=True, repr=False)
class SigningKey:
    """An unlocked P-256 signing key. The constructor checks that the three parts belong together.

    Round-trip law: ``SigningKey.from_private_key(k._private).key_id == k.key_id``; the
    ``repr`` and ``str`` name the key id only, never private material.
    """

    key_id: str
    public_pem: bytes
    _private: ec.EllipticCurvePrivateKey = field(compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self._private, ec.EllipticCurvePrivateKey) or not isinstance(
                self._private.curve, ec.SECP256R1):
            raise KeyMaterialError("a signing key must be an ECDSA P-256 private key",
                                   hint="create one with `KeyRing.init`")
        pem = _public_pem(self._private.public_key())
        if pem != self.public_pem or key_id_of(pem) != self.key_id:
            raise KeyMaterialError("the public key or key id does not belong to this private key",
                                   hint="build keys with SigningKey.from_private_key")

    @classmethod
    def from_private_key(cls, private: ec.EllipticCurvePrivateKey) -> "SigningKey":
        pem = _public_pem(private.public_key())
        return cls(key_id=key_id_of(pem), public_pem=pem, _private=private)

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of ``data``; DER-encoded signature."""
        return self._private.sign(data, ec.ECDSA(hashes.SHA256()))

    def derive_secret(self, salt: bytes, info: bytes) -> bytes:
        """A 32-byte secret only this key's holder can compute (:func:`driftline.crypto.derive_secret`):
        the private key never leaves this object."""
        return derive_secret(self._private, salt, info)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would copy the private key in clear into whatever receives the pickle.
        raise TypeError("SigningKey cannot be pickled; load it from the KeyRing in each process")


def _public_pem(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


class KeyRing:
    """The data home's ``keys/``: ``private/<key_id>.pem`` (encrypted, 0600), ``active``,
    and the trust store (``trust.jsonl``, mirrored in ``trusted/`` and ``revoked/``)."""

    def __init__(self, keys_dir: Path, *, witness: LedgerWitness | None = None) -> None:
        self.keys_dir = Path(keys_dir)
        # One instance, so its replay cache is shared; the witness catches a rolled-back ledger.
        self.trust = TrustStore(self.keys_dir, witness=witness)

    @property
    def _active_file(self) -> Path:
        return self.keys_dir / "active"

    def exists(self) -> bool:
        return self._active_file.is_file()

    def active_key_id(self) -> str:
        """Key id of the key that signs now; :class:`KeyMaterialError` if there is none."""
        try:
            key_id = self._active_file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise KeyMaterialError(f"no signing key in {self.keys_dir}",
                                   hint="create one with `python -m flows keys init`") from None
        if not is_key_id(key_id):
            raise KeyMaterialError(f"{self._active_file} does not name a key id",
                                   hint="restore it from a backup or rotate the key")
        return key_id

    def init(self, passphrase: bytes) -> SigningKey:
        """Create the first signing key and the trust ledger's root; refuses when one exists.

        A crash after the root entry but before the ``active`` pointer is finished here: the
        root's private key is opened with ``passphrase`` and made active.
        """
        if self.exists():
            raise KeyMaterialError(f"a signing key already exists in {self.keys_dir}",
                                   hint="use `python -m flows keys rotate` to replace it; old versions stay verifiable")
        roots = [k for k in self.trust.key_ids() if self.trust.added_by(k) == "root"]
        if roots:
            key = self._open(roots[0], passphrase)
            write_atomic(self._active_file, key.key_id.encode("ascii") + b"\n", mode=0o644)
            return key
        return self._create(passphrase, signer=None)

    def rotate(self, passphrase: bytes) -> SigningKey:
        """Make a new active key under the same passphrase; old public keys stay trusted.

        The passphrase must open the current key first, so that a mistyped one cannot leave a
        key nobody can unlock.
        """
        return self._create(passphrase, signer=self.load(passphrase))

    def load(self, passphrase: bytes) -> SigningKey:
        """Unlock the active key. :class:`KeyMaterialError` on a wrong passphrase."""
        return self._open(self.active_key_id(), passphrase)

    def _open(self, key_id: str, passphrase: bytes) -> SigningKey:
        path = self.keys_dir / "private" / f"{key_id}.pem"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyMaterialError(f"the private key file {path} is missing",
                                   hint="restore it from a backup or rotate the key") from None
        try:
            private = serialization.load_pem_private_key(data, password=_check_passphrase(passphrase))
        except (ValueError, TypeError):
            # `from None`: the foreign error adds nothing and must not drag key bytes along.
            raise KeyMaterialError(f"the passphrase does not open signing key {key_id[:16]}",
                                   hint="check DRIFTLINE_KEY_PASSPHRASE or the passphrase file") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise KeyMaterialError(f"{path} is not an elliptic-curve key", hint="rotate the key")
        key = SigningKey.from_private_key(private)
        if key.key_id != key_id:
            raise KeyMaterialError(f"{path} holds a different key than its name says",
                                   hint="restore it from a backup or rotate the key")
        return key

    def _create(self, passphrase: bytes, *, signer: SigningKey | None) -> SigningKey:
        encryption = serialization.BestAvailableEncryption(_check_passphrase(passphrase))
        key = SigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1()))
        private_dir = self.keys_dir / "private"
        private_dir.mkdir(parents=True, exist_ok=True)
        self.keys_dir.chmod(0o700)
        private_dir.chmod(0o700)
        pem = key._private.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8, encryption)
        # Private key, then the ledger entry (the root signs itself, a rotation is signed by the
        # key it replaces), the active pointer last: a crash in between leaves the previous key
        # active and a harmless extra trusted public key (or a root that `init` finishes).
        write_atomic(private_dir / f"{key.key_id}.pem", pem, mode=0o600)
        if signer is None:
            self.trust.init_root(key)
        else:
            self.trust.add(key.public_pem, signer=signer, action="rotate")
        fault_point("keys.trusted")
        write_atomic(self._active_file, key.key_id.encode("ascii") + b"\n", mode=0o644)
        return key


def _check_passphrase(passphrase: bytes) -> bytes:
    if not isinstance(passphrase, bytes) or not passphrase:
        raise KeyMaterialError("the signing-key passphrase is empty",
                               hint="set DRIFTLINE_KEY_PASSPHRASE or DRIFTLINE_KEY_PASSPHRASE_FILE")
    return passphrase


def resolve_passphrase(*, env_value: Any, file: Path | None, interactive: bool) -> bytes:
    """The passphrase from the environment value, else the file, else a prompt.

    ``env_value`` may be a ``str`` or a pydantic ``SecretStr`` (``Settings.key_passphrase``).
    A file's trailing newline is dropped. :class:`KeyMaterialError` when none is available;
    the message names where we looked, never what was found.
    """
    if env_value is not None and hasattr(env_value, "get_secret_value"):
        env_value = env_value.get_secret_value()
    if env_value:
        return str(env_value).encode("utf-8")
    if file is not None:
        try:
            text = Path(file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise KeyMaterialError(f"cannot read the passphrase file {file}: {exc.strerror}",
                                   hint="check DRIFTLINE_KEY_PASSPHRASE_FILE") from None
        if not text:
            raise KeyMaterialError(f"the passphrase file {file} is empty",
                                   hint="write the passphrase into it")
        return text
    if interactive:
        entered = getpass.getpass("Passphrase of the driftline signing key: ")
        if entered:
            return entered.encode("utf-8")
    raise KeyMaterialError("no passphrase for the signing key",
                           hint="set DRIFTLINE_KEY_PASSPHRASE or DRIFTLINE_KEY_PASSPHRASE_FILE")


# key_id_of stays importable from here: `audit verify-export --public-key` names keys with it.
__all__ = ["KeyRing", "SigningKey", "key_id_of", "resolve_passphrase"]
