"""Signatures made by the independent model_signing 1.1.1 CLI: accepted as they are, and
refused after any one-byte change to any file or to the signature."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.errors import IntegrityError, SignatureError, UntrustedKeyError
from registry import KeyRing, verify_model

VECTORS = Path(__file__).parent / "vectors" / "model-signing-1.1.1"
KEY = (VECTORS / "key.pub").read_bytes()
KEY_ID = "bf21a3334a1790c0cd56b092dbe30522d83e414ddae4613890f9ac6880bd36c9"


@pytest.fixture
def vectors(tmp_path: Path) -> Path:
    target = tmp_path / "v"
    shutil.copytree(VECTORS, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def targets(root: Path) -> list[tuple[Path, dict]]:
    """Every file whose bytes matter, with the verify_model arguments that cover it."""
    outside = {"model_dir": root / "model", "signature": root / "model.sig"}
    inside = {"model_dir": root / "model_inside"}
    files = [(p, outside) for p in sorted((root / "model").rglob("*")) if p.is_file()]
    files += [(root / "model.sig", outside)]
    files += [(p, inside) for p in sorted((root / "model_inside").rglob("*")) if p.is_file()]
    return files


def test_accepts_signature_beside_the_model() -> None:
    result = verify_model(VECTORS / "model", public_key_pem=KEY, signature=VECTORS / "model.sig")
    assert result.key_id == KEY_ID
    assert sorted(result.resources) == ["metadata.json", "model.txt", "sub/reference.csv"]
    assert result.extra == {}


def test_accepts_signature_inside_the_model() -> None:
    result = verify_model(VECTORS / "model_inside", public_key_pem=KEY)
    assert sorted(result.resources) == ["metadata.json", "model.txt", "sub/reference.csv"]


def test_accepts_through_a_trust_store(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    root = ring.init(b"vectors")
    trust = ring.trust
    assert trust.add(KEY, signer=root) == KEY_ID  # the key id is the bundle's publicKey.hint
    assert verify_model(VECTORS / "model_inside", trust=trust).key_id == KEY_ID


def test_refuses_an_unknown_key_and_a_revoked_one(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    root = ring.init(b"vectors")
    trust = ring.trust
    with pytest.raises(UntrustedKeyError):
        verify_model(VECTORS / "model_inside", trust=trust)
    trust.add(KEY, signer=root)
    trust.revoke(KEY_ID, "test", signer=root)
    with pytest.raises(UntrustedKeyError, match="revoked"):
        verify_model(VECTORS / "model_inside", trust=trust)


def test_every_one_byte_flip_is_refused(vectors: Path) -> None:
    """Exhaustive over byte positions of every file: flip the lowest bit, verify, restore."""
    checked = 0
    for path, args in targets(vectors):
        original = path.read_bytes()
        for i in range(len(original)):
            changed = bytearray(original)
            changed[i] ^= 0x01
            path.write_bytes(bytes(changed))
            with pytest.raises(IntegrityError):
                verify_model(public_key_pem=KEY, **args)
            checked += 1
        path.write_bytes(original)
        verify_model(public_key_pem=KEY, **args)
    assert checked > 3000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_replacement_byte_is_refused(vectors: Path, data: st.DataObject) -> None:
    path, args = data.draw(st.sampled_from(targets(vectors)))
    original = path.read_bytes()
    i = data.draw(st.integers(0, len(original) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != original[i]))
    changed = bytearray(original)
    changed[i] = new
    path.write_bytes(bytes(changed))
    try:
        with pytest.raises(IntegrityError):
            verify_model(public_key_pem=KEY, **args)
    finally:
        path.write_bytes(original)


def test_names_the_changed_missing_and_extra_files(vectors: Path) -> None:
    model = vectors / "model_inside"
    (model / "model.txt").write_bytes(b"changed")
    (model / "sub" / "reference.csv").unlink()
    (model / "new.bin").write_bytes(b"x")
    with pytest.raises(SignatureError) as err:
        verify_model(model, public_key_pem=KEY)
    message = str(err.value)
    assert "changed: model.txt" in message
    assert "missing: sub/reference.csv" in message
    assert "extra: new.bin" in message
