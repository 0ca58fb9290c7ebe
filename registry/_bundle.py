"""The signature container: a Sigstore bundle v0.3 holding one DSSE envelope (key mode).

This is the byte format the OpenSSF ``model_signing`` tool writes for ``sign key``: compact
JSON with ``mediaType``, ``verificationMaterial.publicKey.hint`` (hex sha256 of the signer's
public PEM), an empty ``tlogEntries`` and a ``dsseEnvelope`` whose single signature is an
ECDSA signature over the DSSE pre-authentication encoding (PAE) of the payload. Decoding is
strict on purpose: unknown fields, non-canonical base64 or insignificant white space are
refused, so that no byte of a bundle can change without the verifier noticing.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from driftline.canonical import canonical_b64decode, canonical_json
from driftline.errors import SignatureError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_HINT = re.compile(r"^[0-9a-f]{64}$")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature actually covers."""
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
            raise SignatureError(f"DSSE payload type is {self.payload_type!r}, expected "
                                 f"{IN_TOTO_PAYLOAD_TYPE!r}", hint="this is not a model signature")
        if self.key_hint and not _HINT.match(self.key_hint):
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
        except (UnicodeDecodeError, ValueError) as exc:
            raise SignatureError(f"the signature file is not valid JSON ({exc})",
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


def _keys(obj: Any, where: str, *, required: set[str], optional: set[str] = frozenset()) -> None:
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
