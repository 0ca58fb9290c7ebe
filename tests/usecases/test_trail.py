"""`audit checkpoint` and `audit repair-tail` as use cases: a torn line is cut once, recorded as
one entry and signed; a trail with nothing torn is left as it is."""

from __future__ import annotations

from pathlib import Path

from tasks.workspace import Workspace
from tests.usecases.test_keys import actions, assert_checkpointed
from usecases.keys import init_key
from usecases.trail import checkpoint_trail, repair_tail


def test_checkpoint_signs_the_head(home: Path) -> None:
    ws = Workspace.open()
    init_key(ws)
    ws.audit.append("model.score", "model:churn:v1", {"rows": 3}, actor=ws.actor())
    cp = checkpoint_trail(ws)
    assert cp.size == ws.audit.head()[0] == 2
    assert_checkpointed(ws)


def test_repair_tail_cuts_records_and_signs_once(home: Path) -> None:
    ws = Workspace.open()
    init_key(ws)
    with ws.audit.log_path.open("ab") as handle:  # an append cut off by a crash
        handle.write(b'{"action":"ingest","actor":')
    done = repair_tail(Workspace.open())
    assert len(done.cuts) == 1 and actions(ws) == ["key.init", "audit.torn_tail_removed"]
    assert_checkpointed(ws)
    log = ws.audit.log_path.read_bytes()
    assert repair_tail(Workspace.open()).cuts == () and ws.audit.log_path.read_bytes() == log
