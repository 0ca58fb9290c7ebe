"""Sign and verify a model directory in the OpenSSF model-signing v1.0 format (key mode).

:func:`sign_model` writes a Sigstore bundle that the independent ``model_signing verify key``
accepts; :func:`verify_model` accepts what that tool signs. Verification runs in this order
and fails closed: the key named by the bundle must be trusted and unrevoked (or be the pinned
key), the ECDSA signature must hold over the payload bytes exactly as stored, the statement
must be a well-formed v1.0 statement, and the files on disk must match it one for one: the
error names every changed, missing and extra file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from driftline.atomic import write_atomic
from driftline.crypto import IN_TOTO_PAYLOAD_TYPE, Bundle, pae, parse_public_pem, verify_p256
from driftline.errors import InputError, SignatureError, UntrustedKeyError
from registry import layout
from registry._digests import digest_tree
from registry._statement import Manifest, check_resource_name
from registry.keys import SigningKey
from registry.trust import TrustStore

# What `model_signing sign` leaves out by default; recorded in the statement like it does.
DEFAULT_IGNORE = (".git", ".gitattributes", ".github", ".gitignore")


@dataclass(frozen=True)
class VerifiedModel:
    """A model that verified: its files' digests, the signer's key id, the signed extra fields.

    Round-trip law: for ``p = sign_model(d, key, extra=x)``, ``verify_model(d, ...)`` returns
    ``VerifiedModel(resources=<digests of d's files>, key_id=key.key_id, extra=x)``.
    """

    resources: Mapping[str, str]
    key_id: str
    extra: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not self.resources:
            raise SignatureError("a verified model has at least one file", hint="nothing was signed")
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


def sign_model(model_dir: Path, key: SigningKey, *, signature_name: str = layout.SIGNATURE,
               extra: Mapping[str, Any] | None = None, model_name: str | None = None) -> Path:
    """Sign every file of ``model_dir`` and write the bundle to ``model_dir/signature_name``."""
    model_dir = Path(model_dir)
    check_resource_name(signature_name)
    ignore = tuple(sorted({*DEFAULT_IGNORE, signature_name}))
    resources = digest_tree(model_dir, ignore)
    if not resources:
        raise InputError(f"{model_dir} has no files to sign", hint="put the model files in it first")
    manifest = Manifest(model_name=model_name or model_dir.name, resources=resources,
                        ignore_paths=ignore, extra=dict(extra or {}))
    payload = manifest.payload()
    signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))
    path = model_dir / signature_name
    write_atomic(path, Bundle(payload=payload, signature=signature, key_hint=key.key_id).encode())
    return path


def verify_model(model_dir: Path, *, trust: TrustStore | None = None, public_key_pem: bytes | None = None,
                 signature: Path | None = None) -> VerifiedModel:
    """Verify ``model_dir`` against its signature (default ``model_dir/model.sig``).

    Give a ``trust`` store (the key is looked up by the bundle's hint), a pinned
    ``public_key_pem``, or both (then the pinned key must also be trusted). With neither,
    nothing can be trusted and verification fails closed.
    """
    model_dir = Path(model_dir)
    sig_path = Path(signature) if signature is not None else model_dir / layout.SIGNATURE
    try:
        raw = sig_path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(f"{model_dir} is not signed: {sig_path} is missing",
                             hint="sign it (registry versions are signed when registered)") from None
    bundle = Bundle.decode(raw)
    key_id, public = _signer(bundle, trust=trust, public_key_pem=public_key_pem)
    verify_p256(public, bundle.signed_bytes(), bundle.signature, what=f"key {key_id[:16]} ({sig_path})")
    manifest = Manifest.parse(bundle.payload)
    ignore = list(manifest.ignore_paths)
    inside = _relative_inside(sig_path, model_dir)
    if inside is not None:
        ignore.append(inside)
    actual = digest_tree(model_dir, ignore)
    _compare(model_dir, manifest.resources, actual)
    return VerifiedModel(resources=manifest.resources, key_id=key_id, extra=manifest.extra)


def _signer(bundle: Bundle, *, trust: TrustStore | None,
            public_key_pem: bytes | None) -> tuple[str, ec.EllipticCurvePublicKey]:
    if public_key_pem is not None:
        pinned = parse_public_pem(public_key_pem)
        key_id, public = pinned.key_id, pinned.key
        if bundle.key_hint and bundle.key_hint != key_id:
            raise UntrustedKeyError(f"signed by key {bundle.key_hint[:16]}, expected {key_id[:16]}",
                                    hint="verify with the signer's public key")
        if trust is not None:
            trust.public_key(key_id)
        return key_id, public
    if trust is None:
        raise UntrustedKeyError("no trust store and no public key given, so no signer can be trusted",
                                hint="pass trust= (the data home's keys) or public_key_pem=")
    if not bundle.key_hint:
        raise UntrustedKeyError("the signature does not name its key (no publicKey.hint)",
                                hint="verify with public_key_pem=, or re-sign with a current signer")
    return bundle.key_hint, trust.public_key(bundle.key_hint)


def _relative_inside(path: Path, folder: Path) -> str | None:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def _compare(model_dir: Path, expected: Mapping[str, str], actual: Mapping[str, str]) -> None:
    changed = sorted(n for n in expected.keys() & actual.keys() if expected[n] != actual[n])
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    if changed or missing or extra:
        parts = [f"{label}: {', '.join(names[:10])}" for label, names in
                 (("changed", changed), ("missing", missing), ("extra", extra)) if names]
        raise SignatureError(f"{model_dir} does not match its signature ({'; '.join(parts)})",
                             hint="restore the files from a trusted copy; never re-sign unknown content")
