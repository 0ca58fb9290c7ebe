"""The erase use case on three rows: the entity's rows go, one `erasure` entry with counts (never
the ids), checkpointed; bad requests are refused before anything is deleted or written."""

from __future__ import annotations

import pytest

from driftline.errors import InputError
from tasks.workspace import Workspace
from tests.usecases.small import put
from tests.usecases.test_keys import actions, assert_checkpointed
from usecases.erase import erase_entities


@pytest.fixture
def ws(home) -> Workspace:
    ws = Workspace.open()
    put(ws.store, "activity", [{"customer_id": f"C00000{i}", "event_time": i, "sessions": i} for i in range(3)])
    ws.signing_key()  # the home's key (and its key.init entry) exists before the erasure
    return ws


def test_erase_removes_the_rows_audits_counts_once_and_checkpoints(ws: Workspace) -> None:
    before = len(actions(ws))
    result = erase_entities(ws, ["C000001", " C000001 "], reason="request 42")
    assert result.entities == 1 and result.rows_by_group["activity"] == 1
    assert ws.store.read("activity").height == 2
    assert actions(ws)[before:] == ["erasure"]
    assert_checkpointed(ws)
    assert b"C000001" not in ws.audit.log_path.read_bytes()  # the trail is no second copy of the ids
    assert result.request_id in ws.audit.log_path.read_text()


@pytest.mark.parametrize("keys, reason, needle", [([], "request", "no entity"), (["  "], "request", "no entity"),
                                                  (["C000001"], "  ", "reason")])
def test_a_bad_request_deletes_and_writes_nothing(ws: Workspace, keys, reason, needle) -> None:
    log = ws.audit.log_path.read_bytes()
    with pytest.raises(InputError, match=needle):
        erase_entities(ws, keys, reason=reason)
    assert ws.store.read("activity").height == 3 and ws.audit.log_path.read_bytes() == log
