"""The signed statement: an in-toto Statement v1 with the OpenSSF model-signing v1.0 predicate.

The subject is the model (its name is informative only) with one sha256 over the raw digests
of every file, concatenated in the order the resources are listed; the predicate lists each
file (``name``, ``digest``, ``algorithm``) and how they were found (``serialization``: method
``files``, sha256, no symlinks, the ignored paths). Any further predicate field is ``extra``
data that the signature covers (driftline puts registry metadata there); verifiers of v1.0
ignore such fields. Parsing reads the payload bytes as signed and never re-serialises them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from driftline.canonical import canonical_json
from driftline.errors import SignatureError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
_RESERVED = frozenset({"serialization", "resources"})


def check_resource_name(name: str) -> str:
    """A resource name is a relative POSIX path inside the model directory, already normal."""
    path = PurePosixPath(name)
    if (not name or path.is_absolute() or ".." in path.parts or str(path) != name
            or "\\" in name or "\x00" in name):
        raise SignatureError(f"resource name {name[:120]!r} is not a plain relative POSIX path",
                             hint="file names must stay inside the model directory")
    return name


def sort_key(name: str) -> tuple[str, ...]:
    """Order of resources as model_signing lists them (by path parts, like ``PurePath``)."""
    return PurePosixPath(name).parts


@dataclass(frozen=True)
class Manifest:
    """What a model signature states. Round-trip law: ``Manifest.parse(m.payload()) == m``
    (with ``resources`` listed in :func:`sort_key` order, as :meth:`payload` writes them)."""

    model_name: str
    resources: Mapping[str, str]
    ignore_paths: tuple[str, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, digest in self.resources.items():
            check_resource_name(name)
            if not (isinstance(digest, str) and len(digest) == 64 and digest == digest.lower()
                    and all(c in "0123456789abcdef" for c in digest)):
                raise SignatureError(f"digest of {name!r} is not a hex sha256",
                                     hint="the signature was changed or made by another tool")
        if _RESERVED & set(self.extra):
            raise SignatureError("extra predicate fields may not be named serialization or resources",
                                 hint="rename the extra field")
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        object.__setattr__(self, "ignore_paths", tuple(self.ignore_paths))

    def payload(self) -> bytes:
        names = sorted(self.resources, key=sort_key)
        root = hashlib.sha256(b"".join(bytes.fromhex(self.resources[n]) for n in names))
        predicate = {
            **self.extra,
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                              "ignore_paths": list(self.ignore_paths)},
            "resources": [{"name": n, "digest": self.resources[n], "algorithm": "sha256"} for n in names],
        }
        return canonical_json({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.model_name, "digest": {"sha256": root.hexdigest()}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate,
        })

    @classmethod
    def parse(cls, payload: bytes) -> "Manifest":
        """Read a signed payload; :class:`SignatureError` when it is not a v1.0 model statement."""
        try:
            doc = json.loads(payload.decode("utf-8"))
            if doc["_type"] != STATEMENT_TYPE or doc["predicateType"] != PREDICATE_TYPE:
                raise SignatureError(
                    f"statement type {doc['_type']!r} / predicate {doc['predicateType']!r} is not "
                    f"{PREDICATE_TYPE}", hint="re-sign the model with model-signing >= 1.0")
            (subject,) = doc["subject"]
            expected_root = subject["digest"]["sha256"]
            predicate = doc["predicate"]
            serialization = predicate["serialization"]
            resources = predicate["resources"]
        except SignatureError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureError(f"the signed statement is malformed ({type(exc).__name__}: {exc})",
                                 hint="the signature was made by another tool or is damaged") from None
        if (serialization.get("method"), serialization.get("hash_type"),
                serialization.get("allow_symlinks")) != ("files", "sha256", False):
            raise SignatureError(f"unsupported serialization {serialization!r}",
                                 hint="driftline verifies method=files, hash_type=sha256, no symlinks")
        digests: dict[str, str] = {}
        hasher = hashlib.sha256()
        for item in resources:
            if item.get("algorithm") != "sha256" or item.get("name") in digests:
                raise SignatureError(f"resource {item.get('name')!r} is duplicated or not sha256",
                                     hint="the signature was made by another tool or is damaged")
            digests[check_resource_name(str(item["name"]))] = item["digest"]
            try:
                hasher.update(bytes.fromhex(item["digest"]))
            except (TypeError, ValueError):
                raise SignatureError(f"digest of {item['name']!r} is not hex", hint="re-sign") from None
        # The order is the signer's, as model_signing checks it; the payload is never re-sorted.
        if hasher.hexdigest() != expected_root:
            raise SignatureError("the statement's subject digest does not match its resources",
                                 hint="the signed statement is inconsistent; re-sign the model")
        ignore = serialization.get("ignore_paths", [])
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise SignatureError("ignore_paths is not a list of names", hint="re-sign the model")
        return cls(model_name=str(subject.get("name", "")), resources=digests,
                   ignore_paths=tuple(ignore),
                   extra={k: v for k, v in predicate.items() if k not in _RESERVED})
