"""Our own signatures: round-trips of the signed statement and bundle, the fail-closed key
choice, and refusals (tampering, symlinks, reformatted bundles)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.errors import InputError, SignatureError, UntrustedKeyError
from registry import KeyRing, SigningKey, sign_model, verify_model
from driftline.crypto import Bundle
from registry._statement import Manifest

names = st.lists(st.from_regex(r"[a-z0-9_]{1,8}(/[a-z0-9_][a-z0-9_.]{0,7}){0,2}", fullmatch=True),
                 min_size=1, max_size=6, unique=True)
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda kids: (st.lists(kids, max_size=3)
                                         | st.dictionaries(st.text(max_size=5), kids, max_size=3)),
                           max_leaves=8)


@given(names=names, data=st.data(), extra=st.dictionaries(st.sampled_from(["driftline", "x"]), json_values))
def test_manifest_round_trip(names: list[str], data: st.DataObject, extra: dict) -> None:
    manifest = Manifest(model_name="m", resources={n: data.draw(digests) for n in names},
                        ignore_paths=("model.sig",), extra=extra)
    assert Manifest.parse(manifest.payload()) == manifest


@given(payload=st.binary(min_size=1), signature=st.binary(min_size=1), hint=st.binary(min_size=32, max_size=32))
def test_bundle_round_trip(payload: bytes, signature: bytes, hint: bytes) -> None:
    bundle = Bundle(payload=payload, signature=signature, key_hint=hint.hex())
    assert Bundle.decode(bundle.encode()) == bundle


def make_model(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(os.urandom(3000))
    (folder / "sub" / "reference.csv").write_bytes(b"a,b\n1,2\n")
    return folder


def test_sign_and_verify_round_trip(tmp_path: Path, key: SigningKey, ring: KeyRing) -> None:
    model = make_model(tmp_path / "m")
    path = sign_model(model, key, extra={"driftline": {"model": "m", "version": 1}})
    assert path == model / "model.sig"
    result = verify_model(model, trust=ring.trust)
    assert result.key_id == key.key_id
    assert result.extra == {"driftline": {"model": "m", "version": 1}}
    assert set(result.resources) == {"weights.bin", "sub/reference.csv"}
    assert verify_model(model, public_key_pem=key.public_pem, trust=ring.trust).key_id == key.key_id


def test_statement_matches_the_v1_layout(tmp_path: Path, key: SigningKey) -> None:
    model = make_model(tmp_path / "m")
    bundle = json.loads(sign_model(model, key).read_bytes())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": key.key_id}, "tlogEntries": []}
    assert bundle["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    serialization = statement["predicate"]["serialization"]
    found = (serialization["method"], serialization["hash_type"], serialization["allow_symlinks"])
    assert found == ("files", "sha256", False)
    assert "model.sig" in serialization["ignore_paths"]
    resources = statement["predicate"]["resources"]
    assert [r["name"] for r in resources] == ["sub/reference.csv", "weights.bin"]
    import hashlib
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    assert statement["subject"][0]["digest"]["sha256"] == root


def test_no_trust_anchor_fails_closed(tmp_path: Path, key: SigningKey) -> None:
    model = make_model(tmp_path / "m")
    sign_model(model, key)
    with pytest.raises(UntrustedKeyError):
        verify_model(model)


def test_other_pinned_key_is_refused(tmp_path: Path, key: SigningKey) -> None:
    model = make_model(tmp_path / "m")
    sign_model(model, key)
    other = KeyRing(tmp_path / "other").init(b"pw")
    with pytest.raises(UntrustedKeyError):
        verify_model(model, public_key_pem=other.public_pem)


def test_unsigned_model_is_refused(tmp_path: Path, ring: KeyRing) -> None:
    with pytest.raises(SignatureError, match="not signed"):
        verify_model(make_model(tmp_path / "m"), trust=ring.trust)


def test_reformatted_bundle_is_refused(tmp_path: Path, key: SigningKey, ring: KeyRing) -> None:
    model = make_model(tmp_path / "m")
    path = sign_model(model, key)
    path.write_text(json.dumps(json.loads(path.read_bytes()), indent=2))
    with pytest.raises(SignatureError, match="compact"):
        verify_model(model, trust=ring.trust)


def test_symlink_is_refused(tmp_path: Path, key: SigningKey, ring: KeyRing) -> None:
    model = make_model(tmp_path / "m")
    sign_model(model, key)
    (model / "link").symlink_to(model / "weights.bin")
    with pytest.raises(SignatureError, match="symbolic link"):
        verify_model(model, trust=ring.trust)


def test_empty_model_cannot_be_signed(tmp_path: Path, key: SigningKey) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        sign_model(tmp_path / "empty", key)
