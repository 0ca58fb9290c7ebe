"""Canonical JSON: the one byte form of anything driftline hashes or signs.

``canonical_json(x)`` sorts keys, uses no insignificant white space, keeps non-ASCII as UTF-8 and
refuses NaN/inf (which JSON cannot carry), so that equal values always give equal bytes:
``json.loads(canonical_json(x)) == x`` for every JSON value ``x`` (round-trip law).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 bytes of a JSON-compatible value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, streamed: how a drop is known, by ingestion and the watcher."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

