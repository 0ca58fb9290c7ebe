"""Keys: encrypted at rest with mode 0600, wrong passphrases refused without echoing them,
rotation keeps old public keys trusted, revocation, and passphrase resolution order."""

from __future__ import annotations

import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from driftline.errors import KeyMaterialError, NotFoundError, SignatureError, UntrustedKeyError
from registry import KeyRing, TrustStore, resolve_passphrase

PASSPHRASE = b"correct horse battery staple"


def test_private_key_is_encrypted_and_private(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.init(PASSPHRASE)
    path = tmp_path / "keys" / "private" / f"{key.key_id}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert PASSPHRASE not in path.read_bytes()
    assert ring.load(PASSPHRASE).key_id == key.key_id


def test_wrong_passphrase_is_refused_without_echo(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.init(PASSPHRASE)
    with pytest.raises(KeyMaterialError) as err:
        ring.load(b"wrong-secret-phrase")
    assert "wrong-secret-phrase" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_repr_and_errors_never_show_private_material(tmp_path: Path) -> None:
    key = KeyRing(tmp_path / "keys").init(PASSPHRASE)
    private_pem = key._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
    secret_line = private_pem.splitlines()[1].decode()
    for text in (repr(key), str(key), repr([key])):
        assert text == repr(key) or key.key_id in text
        assert secret_line not in text and "_private" not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_init_refuses_an_existing_key(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    assert not ring.exists()
    ring.init(PASSPHRASE)
    with pytest.raises(KeyMaterialError, match="already exists"):
        ring.init(PASSPHRASE)


def test_load_without_a_key_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="keys init"):
        KeyRing(tmp_path / "keys").load(PASSPHRASE)


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError):
        KeyRing(tmp_path / "keys").init(b"")


def test_rotation_keeps_old_keys_trusted(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    old = ring.init(PASSPHRASE)
    with pytest.raises(KeyMaterialError):
        ring.rotate(b"typo")
    new = ring.rotate(PASSPHRASE)
    assert new.key_id != old.key_id
    assert ring.load(PASSPHRASE).key_id == new.key_id
    assert set(ring.trust.key_ids()) == {old.key_id, new.key_id}
    ring.trust.verify(old.key_id, b"data", old.sign(b"data"))


def test_trust_verify_and_revoke(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.init(PASSPHRASE)
    trust = TrustStore(tmp_path / "keys")
    signature = key.sign(b"entry")
    trust.verify(key.key_id, b"entry", signature)
    with pytest.raises(SignatureError):
        trust.verify(key.key_id, b"entry!", signature)
    with pytest.raises(UntrustedKeyError):
        trust.verify("0" * 64, b"entry", signature)
    with pytest.raises(NotFoundError):
        trust.revoke("0" * 64, "unknown", signer=key)
    trust.revoke(key.key_id, "laptop lost", signer=key)
    assert trust.is_revoked(key.key_id)
    with pytest.raises(UntrustedKeyError, match="laptop lost"):
        trust.verify(key.key_id, b"entry", signature)
    with pytest.raises(UntrustedKeyError):  # a revoked key signs no further trust change
        trust.add(KeyRing(tmp_path / "other").init(PASSPHRASE).public_pem, signer=key)
    trust.add(key.public_pem, signer=key)  # re-adding does not un-revoke
    assert trust.is_revoked(key.key_id)


def test_trusted_key_file_swap_changes_nothing(tmp_path: Path) -> None:
    """The .pub files are a mirror: overwriting one neither trusts the new key nor breaks the old."""
    a = KeyRing(tmp_path / "a").init(PASSPHRASE)
    b = KeyRing(tmp_path / "b").init(PASSPHRASE)
    (tmp_path / "a" / "trusted" / f"{a.key_id}.pub").write_bytes(b.public_pem)
    trust = TrustStore(tmp_path / "a")
    assert trust.public_pem(a.key_id) == a.public_pem
    trust.verify(a.key_id, b"x", a.sign(b"x"))
    with pytest.raises(SignatureError):
        trust.verify(a.key_id, b"x", b.sign(b"x"))
    assert trust.untrusted_files() == [f"{a.key_id}.pub"]


def test_resolve_passphrase_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "pass"
    secret_file.write_bytes(b"from-file\n")
    monkeypatch.setattr("getpass.getpass", lambda prompt: "from-prompt")
    assert resolve_passphrase(env_value="from-env", file=secret_file, interactive=True) == b"from-env"
    assert resolve_passphrase(env_value=SecretStr("s"), file=None, interactive=False) == b"s"
    assert resolve_passphrase(env_value=None, file=secret_file, interactive=True) == b"from-file"
    assert resolve_passphrase(env_value=None, file=None, interactive=True) == b"from-prompt"
    with pytest.raises(KeyMaterialError, match="DRIFTLINE_KEY_PASSPHRASE"):
        resolve_passphrase(env_value=None, file=None, interactive=False)
    with pytest.raises(KeyMaterialError) as err:
        resolve_passphrase(env_value=None, file=tmp_path / "missing", interactive=False)
    assert "missing" in str(err.value)
