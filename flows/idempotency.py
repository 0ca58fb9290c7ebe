"""Idempotency keys of handled events, so that a duplicate event never does the work twice.

A key per data file (its content digest) and per drift window is recorded in
``state/<kind>.jsonl`` under a file lock once the work it started has finished; a second event with
the same key is acknowledged and skipped. The record is written after the work, so a crash in
between repeats the work (at least once) rather than losing it; the work itself is idempotent
(ingestion by content digest, a retrain only adds a version).

A record counts once :func:`mark_done` returns: its line is fsynced (and the folder, when the
ledger is created), so a power cut cannot lose it. A torn last line (a write cut by a crash) was
never acknowledged: readers skip it, so its work runs again, and the next append cuts it instead
of gluing a record onto it. A key is never recorded twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from driftline.atomic import fault_point, fsync_dir
from driftline.clock import now_text
from driftline.errors import InputError
from driftline.home import DataHome


def _ledger(home: DataHome, kind: str) -> Path:
    return home.state / f"{kind}.jsonl"


def _keys(path: Path, body: bytes) -> set[str]:
    """The keys of the complete lines of ``body``; a torn last line (no newline) is skipped."""
    keys = set()
    for number, line in enumerate(body.split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            keys.add(json.loads(line)["key"])
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{path} line {number} is not an idempotency record: {exc}",
                             hint="the ledger is written only by driftline; restore it, or remove the "
                                  "line (its event's work then runs once more)") from exc
    return keys


def already_done(home: DataHome, kind: str, key: str) -> bool:
    path = _ledger(home, kind)
    if not path.exists():
        return False
    return key in _keys(path, path.read_bytes())


def mark_done(home: DataHome, kind: str, key: str, details: Mapping[str, Any]) -> None:
    """Record ``key`` durably (once); when this returns, a rerun skips the key's work."""
    path = _ledger(home, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "at": now_text(), **details}
    line = json.dumps(record, sort_keys=True).encode("utf-8") + b"\n"
    with FileLock(str(path) + ".lock", timeout=30):
        created = not path.exists()
        with path.open("a+b") as handle:
            handle.seek(0)
            body = handle.read()
            if not body.endswith(b"\n") and body:
                body = body[:body.rfind(b"\n") + 1]
                handle.truncate(len(body))  # the torn line was never acknowledged
            if key in _keys(path, body):  # two runs of one event both finished: one record
                return
            fault_point("idempotency.locked")
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_dir(path.parent)
        fault_point("idempotency.appended")
