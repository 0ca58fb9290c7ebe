"""Canonical JSON: the one byte form of anything driftline hashes or signs.

``canonical_json(x)`` sorts keys, uses no insignificant white space, keeps non-ASCII as UTF-8 and
refuses NaN/inf (which JSON cannot carry), so that equal values always give equal bytes:
``json.loads(canonical_json(x)) == x`` for every JSON value ``x`` (round-trip law).
:func:`canonical_b64decode` is the matching rule for signatures carried as base64 text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from io import BufferedIOBase, RawIOBase
from pathlib import Path
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 bytes of a JSON-compatible value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def canonical_b64decode(text: Any) -> bytes:
    """Decode standard base64, refusing (ValueError) any text that is not exactly what encoding the
    bytes gives back. A lenient decoder ignores the unused bits of the last character before the
    padding, so a flipped bit there would leave a signature valid and its file changed unnoticed."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"not base64: {exc}") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("not canonical base64 (padding bits or line breaks)")
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_CHUNK = 4 * 1024 * 1024


def stream_sha256(handle: BufferedIOBase | RawIOBase) -> str:
    """Hex sha256 of everything left in an opened binary file. Read in large chunks into one
    reused buffer, so hashing a model or a drop costs little more than reading it
    (benchmarks/bench_verify.py); ``hashlib`` releases the GIL, so threads hash in parallel."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    while count := handle.readinto(buffer):
        digest.update(view[:count])
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes: the one file digest (registry resources, exports). A file that
    comes from landing/ is hashed through ``features.drop_guard.drop_digest`` instead, which
    follows no link and opens no FIFO, and then through :func:`stream_sha256`."""
    with open(path, "rb", buffering=0) as handle:
        return stream_sha256(handle)

