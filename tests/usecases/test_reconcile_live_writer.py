"""A writer alive between its change and its audit entry is not a crashed one.

A child process makes a change (Delta commit of a drop, a version's rename, an alias swap) and
stops itself with SIGSTOP just before the audit append. Reconcile in this process must not
record the change as lost: with a short timeout it raises ``LockTimeout``; with the default one
it waits, and once the child resumes and finishes, the trail holds exactly one entry, the
writer's own. Then two registrants of the same candidate racing: one version, one entry.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from driftline.errors import AuditUnwritableError, LockTimeout
from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, gate_report, lineage
from tests.usecases.test_reconcile_crash import drop
from usecases.promotion import promote_version
from usecases.reconcile import ReconcileReport, reconcile
from usecases.reconcile_lock import reconcile_lock, writer_lock
from usecases.registration import register_candidate

ROOT = Path(__file__).resolve().parents[2]

# The child pauses itself right before appending the entry of the change it has just made.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from tasks.workspace import Workspace
    ws = Workspace.open()
    what, action = sys.argv[1], sys.argv[2]
    append = ws.audit.append
    def paused(act, *args, **kwargs):
        if act == action:
            os.kill(os.getpid(), signal.SIGSTOP)
        return append(act, *args, **kwargs)
    ws.audit.append = paused
    if what == "ingest":
        from tasks.ingest import ingest_drops
        ingest_drops.fn(ws, sorted((ws.home.landing / "customer_activity").iterdir()))
    elif what == "register":
        from tests.usecases.candidates import FILES, gate_report, lineage
        from usecases.registration import register_candidate
        register_candidate(ws, files=FILES, lineage=lineage("child"), report=gate_report())
    else:
        from usecases.promotion import promote_version
        promote_version(ws, "churn", 2, reason="live writer")
""")
CASES = {"ingest": "ingest", "register": "model.register", "promote": "model.promote"}


def prepare(ws: Workspace, what: str) -> None:
    ws.signing_key()
    if what == "ingest":
        drop(ws, "a.csv", "C000001")
    elif what == "promote":
        for seed in ("1", "2"):
            register_candidate(ws, files={**FILES, "model.txt": seed.encode()}, lineage=lineage(seed),
                               report=gate_report())
        promote_version(ws, "churn", 1, reason="first")


@pytest.mark.parametrize("what", sorted(CASES))
def test_reconcile_waits_for_a_writer_paused_before_its_entry(home: Path, what: str) -> None:
    ws = Workspace.open()
    prepare(ws, what)
    action = CASES[what]
    before = len([e for e in ws.audit.entries() if e.action == action])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, what, action], env=env, cwd=ROOT)
    results: list[ReconcileReport | BaseException] = []
    waiter = threading.Thread(target=lambda: results.append(_reconcile_or_error(ws)))
    try:
        _, status = os.waitpid(child.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), f"the child ended before its audit append (status {status})"
        with pytest.raises(LockTimeout, match="held by a writer"):
            reconcile(ws, lock_timeout=0.2)  # the change is made, its entry not yet: not lost
        waiter.start()  # waits for the lock (default timeout) while the child is stopped, or not
        os.kill(child.pid, signal.SIGCONT)
        assert child.wait(timeout=300) == 0
    finally:
        if child.returncode is None:  # a step above failed: leave no stopped child behind
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            child.wait()
        if waiter.ident:
            waiter.join()
    (report,) = results
    assert isinstance(report, ReconcileReport), report
    assert report.recovered == 0
    found = [e for e in ws.audit.entries() if e.action == action]
    assert len(found) == before + 1
    assert found[-1].details.get("recovered", False) is False
    result = ws.audit.verify(ws.trust)
    assert result.ok, result.problem


def _reconcile_or_error(ws: Workspace) -> ReconcileReport | BaseException:
    try:
        return reconcile(ws)
    except BaseException as exc:  # noqa: BLE001 - handed to the test's thread, which asserts on it
        return exc


def test_two_registrants_of_one_candidate_make_one_version_and_one_entry(home: Path) -> None:
    Workspace.open().signing_key()
    # Each registrant, once it has found the candidate unregistered, waits for the other to get
    # as far: without serialisation both decide "new"; with it the second never finds it new,
    # and the first's wait ends at the barrier's timeout.
    barrier = threading.Barrier(2, timeout=2)
    versions: list[object] = []

    def registrant() -> None:
        ws = Workspace.open()
        find = ws.registry.find_candidate

        def find_then_meet(model: str, identity: str):
            found = find(model, identity)
            if found is None:
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    pass
            return found

        ws.registry.find_candidate = find_then_meet
        try:
            versions.append(register_candidate(ws, files=FILES, lineage=lineage("race"), report=gate_report()))
        except BaseException as exc:  # noqa: BLE001 - the test's thread asserts on it
            versions.append(exc)

    threads = [threading.Thread(target=registrant) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ws = Workspace.open()
    assert sorted(getattr(v, "version", v) for v in versions) == [1, 1]
    assert [v.version for v in ws.registry.versions("churn")] == [1]
    assert [e.subject for e in ws.audit.entries() if e.action == "model.register"] == ["model:churn:v1"]


def test_writers_share_the_lock_and_wait_for_a_reconcile(tmp_path: Path) -> None:
    # writers never exclude each other; a reconcile waits for them, and they for it
    with writer_lock(tmp_path), writer_lock(tmp_path, timeout=0), \
            pytest.raises(LockTimeout, match="held by a writer"), reconcile_lock(tmp_path, timeout=0.05):
        pass
    with reconcile_lock(tmp_path), pytest.raises(LockTimeout, match="a reconcile held"), \
            writer_lock(tmp_path, timeout=0.05):
        pass
    with reconcile_lock(tmp_path, timeout=0):  # every holder above let go
        pass


def test_a_state_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a folder")
    with pytest.raises(AuditUnwritableError, match="writable state folder") as info, writer_lock(state):
        pass
    assert info.value.hint
