"""kill -9 between a state change and its audit entry, on every such path; the next start's
reconcile records the change once, marked recovered, and a rerun changes and records nothing twice.

Paths: a Delta commit before its ``ingest`` entries (``ingest.committed``), a version's rename
before its ``model.register`` (``register.renamed``), an alias swap before ``model.promote``
(``alias.replaced``), plus the earlier points of the same paths, where nothing was changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, gate_report, lineage
from usecases.promotion import promote_version
from usecases.reconcile import reconcile
from usecases.registration import register_candidate

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tasks.workspace import Workspace
    ws = Workspace.open()
    what = sys.argv[1]
    if what == "ingest":
        from features.ingest import ingest_files
        ingest_files(sorted((ws.home.landing / "customer_activity").iterdir()), ws.contracts, ws.store,
                     ws.quarantine, landing_root=ws.home.landing)
    elif what == "register":
        from tests.usecases.candidates import FILES, gate_report, lineage
        from usecases.registration import register_candidate
        register_candidate(ws, files=FILES, lineage=lineage("child"), report=gate_report())
    else:
        from usecases.promotion import promote_version
        promote_version(ws, "churn", int(sys.argv[2]), reason="crash test")
""")
HEADER = "customer_id,event_time,sessions,minutes_active,pages_per_session,support_tickets,device"


def run_child(fault: str, *args: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, *args],
                          env=env, cwd=ROOT, timeout=300).returncode


def entries(ws: Workspace, action: str) -> list:
    return [e for e in ws.audit.entries() if e.action == action]


def assert_verifies(ws: Workspace) -> None:
    result = ws.audit.verify(ws.trust)
    assert result.ok, result.problem
    assert result.unsigned_tail == 0  # recovered entries are covered by a checkpoint


def drop(ws: Workspace, name: str, customer: str) -> Path:
    path = ws.home.landing / "customer_activity" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{HEADER}\n{customer},2024-01-01T00:00:00Z,3,12.5,2.0,0,mobile\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fault", ["ingest.before_commit", "ingest.committed"])
def test_kill_between_delta_commit_and_audit(home: Path, fault: str) -> None:
    ws = Workspace.open()
    ws.signing_key()  # key.init entry and key
    paths = [drop(ws, "a.csv", "C000001"), drop(ws, "b.csv", "C000002")]
    assert run_child(fault, "ingest") == -signal.SIGKILL
    assert entries(ws, "ingest") == []  # the gap the kill left
    committed = fault == "ingest.committed"
    assert len(ws.store.ingested_sources("customer_activity")) == (2 if committed else 0)

    report = reconcile(ws)
    assert report.drops == (2 if committed else 0)
    from features.ingest import ingest_files  # the rerun: stored drops are duplicates, others are stored
    reruns = ingest_files(paths, ws.contracts, ws.store, ws.quarantine, landing_root=ws.home.landing)
    assert {r.status for r in reruns} == ({"duplicate"} if committed else {"stored"})
    assert reconcile(ws).drops == (0 if committed else 2)  # a run killed later is recovered the same way
    found = entries(ws, "ingest")
    assert Counter(e.details["sha256"] for e in found) == Counter(
        {s: 1 for s in ws.store.ingested_sources("customer_activity")})
    assert len(found) == 2 and all(e.details["recovered"] is True for e in found)
    assert_verifies(ws)


@pytest.mark.parametrize("fault", ["register.signed", "register.renamed"])
def test_kill_between_version_rename_and_register_entry(home: Path, fault: str) -> None:
    ws = Workspace.open()
    ws.signing_key()
    assert run_child(fault, "register") == -signal.SIGKILL
    renamed = fault == "register.renamed"
    assert [v.version for v in ws.registry.versions("churn")] == ([1] if renamed else [])
    assert reconcile(ws).versions == (1 if renamed else 0)

    files = FILES
    again = register_candidate(ws, files=files, lineage=lineage("child"), report=gate_report())
    assert again.version == 1  # the same candidate: no second version
    assert [v.version for v in ws.registry.versions("churn")] == [1]
    (entry,) = entries(ws, "model.register")
    assert entry.subject == "model:churn:v1"
    assert entry.details.get("recovered", False) is renamed
    other = register_candidate(ws, files={**files, "model.txt": b"other"}, lineage=lineage("child"),
                               report=gate_report())
    assert other.version == 2  # a different candidate is a new version
    assert [e.subject for e in entries(ws, "model.register")] == ["model:churn:v1", "model:churn:v2"]
    ws.audit.checkpoint(ws.signing_key())
    assert_verifies(ws)


@pytest.mark.parametrize("fault", ["alias.staged", "alias.replaced"])
def test_kill_between_alias_swap_and_promote_entry(home: Path, fault: str) -> None:
    ws = Workspace.open()
    for seed in ("1", "2"):
        register_candidate(ws, files={**FILES, "model.txt": seed.encode()}, lineage=lineage(seed),
                           report=gate_report())
    promote_version(ws, "churn", 1, reason="first")
    assert run_child(fault, "promote", "2") == -signal.SIGKILL
    swapped = fault == "alias.replaced"
    assert ws.registry.alias("churn", "champion") == (2 if swapped else 1)
    assert reconcile(ws).alias_changes == (1 if swapped else 0)

    move = promote_version(ws, "churn", 2, reason="rerun")  # the rerun of the command
    assert move.changed is not swapped
    assert [c.to_version for c in ws.registry.alias_history("churn")] == [1, 2]
    found = entries(ws, "model.promote")
    assert [(e.details["from"], e.details["to"]) for e in found] == [(None, 1), (1, 2)]
    assert [e.details.get("recovered", False) for e in found] == [False, swapped]
    assert_verifies(ws)
