"""kill -9 inside the ingest use case's upkeep: between a compaction and its ``store.compact`` entry,
and while the ``landing.expire`` entry is appended (before any drop is removed).

Whatever the child left, the audit trail must verify (no torn entry), the store must read the same
rows, no drop may have left ``landing/`` without its entry, and the next ingestion must work. (The
Delta commit before its ``ingest`` entries is tests/usecases/test_reconcile_crash.py's.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from governance.audit import AuditLog
from tests.usecases.test_ingest import World

REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tests.usecases.test_ingest import World
    from usecases.ingest import expire_landing
    from tests.usecases.small import ACTOR

    world, what = World(Path(sys.argv[1])), sys.argv[2]
    if what == "compact":
        world.run([world.drop("d2.csv", [("c2", 2, "2")])], compact_min_files=3)
    else:
        from datetime import datetime, timezone
        expire_landing(world.landing, world.store, world.quarantine, retention_days=7, audit=world.audit,
                       actor=ACTOR, now=datetime.now(timezone.utc))
""")


class _NoCheckpoints:
    """No checkpoint is written here, so only the hash chain is walked; a signature check is a failure."""

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        raise AssertionError("no checkpoint was expected")


def _kill_child(root: Path, what: str, point: str) -> None:
    env = {**os.environ, "DRIFTLINE_FAULT": point,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(root), what], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr


def _verifies(world: World) -> None:
    result = AuditLog(world.root / "audit").verify(_NoCheckpoints())
    assert result.ok, result.problem


def test_a_kill_between_compaction_and_its_entry_keeps_every_row_and_a_verifiable_trail(tmp_path: Path) -> None:
    world = World(tmp_path)
    for day in range(2):
        world.run([world.drop(f"d{day}.csv", [(f"c{day}", day, str(day))])], compact_min_files=3)
    _kill_child(tmp_path, "compact", "ingest.compacted")

    _verifies(world)
    assert sorted(World(tmp_path).store.read("activity")["customer_id"]) == ["c0", "c1", "c2"]
    assert len(World(tmp_path).store.snapshot("activity").files) == 1  # compacted, rows unchanged
    assert world.actions() == ["ingest"] * 3  # the housekeeping's record is what the kill lost
    again = World(tmp_path).run([world.drop("d3.csv", [("c3", 3, "3")])], compact_min_files=3)
    assert [r.status for r in again.reports] == ["stored"]
    assert sorted(World(tmp_path).store.read("activity")["customer_id"]) == ["c0", "c1", "c2", "c3"]
    _verifies(world)


@pytest.mark.parametrize("point", ["audit.before_write", "landing.expire_recorded"])
def test_a_kill_while_expiring_removes_no_drop_without_its_entry(tmp_path: Path, point: str) -> None:
    world = World(tmp_path)
    drop = world.drop("old.csv", [("c1", 1, "3")])
    world.run([drop])
    landed = time.time() - 8 * 86400  # landed eight days ago: past the seven days' retention
    os.utime(drop, (landed, landed))
    _kill_child(tmp_path, "expire", point)

    _verifies(world)
    recorded = [e for e in AuditLog(tmp_path / "audit").entries() if e.action == "landing.expire"]
    if not recorded:
        assert drop.exists(), "a drop left landing/ with no landing.expire entry"
    again = World(tmp_path).run([], clock=lambda: datetime.now(timezone.utc))
    assert not drop.exists() and again.expired in ((drop,), ())
    assert [e.action for e in AuditLog(tmp_path / "audit").entries()].count("landing.expire") >= 1
    _verifies(world)
