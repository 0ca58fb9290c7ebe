"""Idempotency keys of handled events, so that a duplicate event never does the work twice.

A key per data file (its content digest) and per drift window is recorded in
``state/<kind>.jsonl`` under a file lock once the work it started has finished; a second event with
the same key is acknowledged and skipped. The record is written after the work, so a crash in
between repeats the work (at least once) rather than losing it; the work itself is idempotent
(ingestion by content digest, a retrain only adds a version).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from filelock import FileLock

from driftline.home import DataHome


def _ledger(home: DataHome, kind: str):
    return home.state / f"{kind}.jsonl"


def already_done(home: DataHome, kind: str, key: str) -> bool:
    path = _ledger(home, kind)
    if not path.exists():
        return False
    with path.open(encoding="utf-8") as handle:
        return any(json.loads(line).get("key") == key for line in handle if line.strip())


def mark_done(home: DataHome, kind: str, key: str, details: Mapping[str, Any]) -> None:
    path = _ledger(home, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "at": datetime.now(timezone.utc).isoformat(), **details}
    with FileLock(str(path) + ".lock", timeout=30):
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
