"""The erase use case on three rows: the entity's rows go, one `erasure` entry with counts (never
the ids), checkpointed; bad requests are refused before anything is deleted or written."""

from __future__ import annotations

from pathlib import Path

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


def _exports(ws: Workspace) -> dict[str, Path]:
    """Kept exports: a bundle holding C000001, one not holding it, an archive holding it compressed."""
    import zipfile

    reports = ws.home.reports
    holding, clean = reports / "audit-export-20260301T000000Z", reports / "audit-export-20260302T000000Z"
    for folder, text in ((holding, '{"subject": "C000001"}'), (clean, '{"subject": "C000002"}')):
        (folder / "audit").mkdir(parents=True)
        (folder / "audit" / "entries.jsonl").write_text(text)
    archive = reports / "audit-export-20260303T000000Z.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("audit/entries.jsonl", '{"subject": "C000001"}' * 50)
    assert b"C000001" not in archive.read_bytes()  # compressed: a plain byte scan would miss it
    return {"holding": holding, "clean": clean, "archive": archive}


def _leaks(root: Path, value: str) -> list[str]:
    import zipfile

    found = []
    for p in root.rglob("*"):
        if p.is_file() and (value.encode() in p.read_bytes() or (zipfile.is_zipfile(p) and any(
                value.encode() in zipfile.ZipFile(p).read(m) for m in zipfile.ZipFile(p).namelist()))):
            found.append(str(p.relative_to(root)))
    return found


def test_erasure_removes_the_kept_exports_that_hold_the_ids_and_counts_them(ws: Workspace) -> None:
    exports = _exports(ws)
    result = erase_entities(ws, ["C000001"], reason="request 44")
    assert result.exports_removed == 2
    assert not exports["holding"].exists() and not exports["archive"].exists() and exports["clean"].is_dir()
    assert list(ws.audit.entries())[-1].details["exports_removed"] == 2
    assert _leaks(ws.home.root, "C000001") == []  # every file of the data home scanned
    assert_checkpointed(ws)


def test_a_kill_while_removing_exports_is_finished_by_the_rerun(ws: Workspace) -> None:
    import os
    import signal
    import subprocess
    import sys

    exports = _exports(ws)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DRIFTLINE_FAULT": "erase.export_removed",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", "from tasks.workspace import Workspace\n"
                            "from usecases.erase import erase_entities\n"
                            "erase_entities(Workspace.open(), ['C000001'], reason='request 45')"],
                           cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert ws.store.read("activity").height == 2 and ws.audit.verify(ws.trust).ok
    erase_entities(ws, ["C000001"], reason="request 45")
    assert not exports["holding"].exists() and not exports["archive"].exists() and exports["clean"].is_dir()
    assert _leaks(ws.home.root, "C000001") == []
    assert_checkpointed(ws)
