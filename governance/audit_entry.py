"""One audit entry, its line format, and reading entries back from the end of the log.

An entry is one line of canonical JSON: ``seq``, ``time``, ``actor``, ``action``, ``subject``,
``details``, ``prev_hash``, ``hash`` and, since entries are MACed, ``mac``
(``{"key_id", "hmac_sha256"}``). ``hash`` is sha256 over the entry without ``hash``, so it covers
the MAC too; the MAC is HMAC-SHA256 with the signing key's derived MAC key
(:func:`governance.checkpoints.derive_entry_mac_key`) over the entry without ``hash`` and
``mac``, so it binds the entry to its place in the chain (``prev_hash``). Because ``"hash"``
sorts between ``"details"`` and ``"mac"``/``"prev_hash"``, cutting the ``"hash":"…",`` segment out
of a line still gives exactly the hashed bytes (the fast verifier relies on it). Entries written
before MACs existed have no ``mac`` field and stay valid wherever a checkpoint covers them.
Reading backwards (:func:`read_back`) costs what the entries after a checkpoint cost, not the log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import AuditChainError, InputError
from governance.audit_verify import loads
from governance.checkpoints import EntryMacKey

# What to do about a torn last line, wherever it is found (append, checkpoint, export).
TORN_TAIL_HINT = ("check it with `python -m flows audit verify`, then cut it with "
                  "`python -m flows audit repair-tail` (AuditLog.repair_torn_tail)")
ZERO_HASH = "0" * 64
_FIELDS = frozenset({"seq", "time", "actor", "action", "subject", "details", "prev_hash", "hash"})
_MAC_FIELDS = frozenset({"key_id", "hmac_sha256"})
_TAIL_BLOCK = 8192
_DAMAGE_HINT = "run `python -m flows audit verify` to locate the damage"


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry. Round-trip law: ``AuditEntry.from_line(e.to_line()) == e``."""

    seq: int
    time: str
    actor: Mapping[str, Any]
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str
    mac: Mapping[str, str] | None = None

    def macced(self) -> dict[str, Any]:
        """The entry without ``hash`` and ``mac``: what the MAC is computed over."""
        return {"seq": self.seq, "time": self.time, "actor": dict(self.actor), "action": self.action,
                "subject": self.subject, "details": dict(self.details), "prev_hash": self.prev_hash}

    def body(self) -> dict[str, Any]:
        """The entry without its hash: what ``hash`` is computed over."""
        body = self.macced()
        if self.mac is not None:
            body["mac"] = dict(self.mac)
        return body

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}

    def to_line(self) -> bytes:
        return canonical_json(self.to_dict()) + b"\n"

    def mac_problem(self, key: EntryMacKey) -> str | None:
        """Why ``key`` does not vouch for this entry, or None when its MAC is valid."""
        if self.mac is None:
            return "it carries no MAC (it was not written by driftline with the signing key)"
        if self.mac.get("key_id") != key.key_id:
            return (f"its MAC names key {str(self.mac.get('key_id'))[:16]}, not the active key "
                    f"{key.key_id[:16]}")
        if not key.check(canonical_json(self.macced()), str(self.mac.get("hmac_sha256"))):
            return "its MAC does not match its content (it was forged or edited)"
        return None

    @classmethod
    def create(cls, *, seq: int, time: str, actor: Mapping[str, Any], action: str, subject: str,
               details: Mapping[str, Any], prev_hash: str, mac_key: EntryMacKey | None = None) -> "AuditEntry":
        if not action or not isinstance(action, str) or not isinstance(subject, str):
            raise InputError(f"audit action {action!r} / subject {subject!r} must be non-empty text")
        body: dict[str, Any] = {"seq": seq, "time": time, "actor": dict(actor), "action": action,
                                "subject": subject, "details": dict(details), "prev_hash": prev_hash}
        try:
            if mac_key is not None:
                body["mac"] = {"key_id": mac_key.key_id, "hmac_sha256": mac_key.mac(canonical_json(body))}
            digest = sha256_hex(canonical_json(body))
        except (TypeError, ValueError) as exc:
            raise InputError(f"audit details of {action!r} are not plain JSON: {exc}",
                             hint="pass strings, numbers, booleans, lists and dicts only") from exc
        return cls(hash=digest, **body)

    @classmethod
    def from_line(cls, line: bytes) -> "AuditEntry":
        """Parse one log line and check that its hash matches its content."""
        try:
            raw = loads(line)
        except ValueError as exc:
            raise AuditChainError(f"unreadable audit line ({len(line)} bytes): {exc}", hint=_DAMAGE_HINT) from exc
        if not isinstance(raw, dict) or set(raw) - {"mac"} != _FIELDS or (
                "mac" in raw and (not isinstance(raw["mac"], dict) or set(raw["mac"]) != _MAC_FIELDS)):
            raise AuditChainError("audit line does not have the entry fields", hint=_DAMAGE_HINT)
        entry = cls(**raw)
        if sha256_hex(canonical_json(entry.body())) != entry.hash:
            raise AuditChainError(f"audit entry {entry.seq} does not match its hash", hint=_DAMAGE_HINT)
        return entry


def read_back(fd: int, path: Path, floor: int) -> list[AuditEntry]:
    """Entries ``floor..last`` (``floor`` itself included when > 0), read from the end, in order.

    Each is hash-checked as it is parsed; the caller checks the links. Raises on a torn tail.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return []
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditChainError(f"{path} ends in a torn line (an append was cut off)", hint=TORN_TAIL_HINT)
    found: list[AuditEntry] = []
    end, carry, block = size - 1, b"", _TAIL_BLOCK  # bytes [0, end) unread; carry: a partial line
    while True:
        start = max(0, end - block)
        lines = (os.pread(fd, end - start, start) + carry).split(b"\n")
        carry = lines.pop(0) if start > 0 else b""
        for line in reversed(lines):
            entry = AuditEntry.from_line(line)
            found.append(entry)
            if entry.seq <= max(floor, 1):
                return found[::-1]
        if start == 0:
            return found[::-1]
        end, block = start, block * 2


def read_tail(fd: int, path: Path) -> tuple[int, str]:
    """(seq, hash) of the last entry, reading backwards from the end only as far as needed."""
    last = read_back(fd, path, 1 << 62)
    return (last[-1].seq, last[-1].hash) if last else (0, ZERO_HASH)
