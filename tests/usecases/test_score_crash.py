"""kill -9 while the score use case writes: at the audit append that follows the predictions commit.

The child scores a store of two entities and dies at the armed fault point. Whatever it left, the
audit trail must verify (no torn entry), the predictions table must read whole, and scoring again
must work. A kill between the two writes leaves a stored batch without its ``model.score`` entry:
the store's commit metadata still names the batch (``driftline.sources``), which this test checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from features import predictions as P
from features.store import FeatureStore
from governance.audit import AuditLog
from registry.versions import ModelVersion
from tests.usecases.small import ACTOR, CONTRACTS, put, tiny_fit
from usecases.score import score_latest

class _NoCheckpoints:
    """No checkpoint is written here, so only the hash chain is walked; a signature check is a failure."""

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        raise AssertionError("no checkpoint was expected")


REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from features.store import FeatureStore
    from governance.audit import AuditLog
    from registry.versions import ModelVersion
    from tests.usecases.small import ACTOR, CONTRACTS
    from usecases.score import score_latest

    root = Path(sys.argv[1])
    version = ModelVersion("churn", 1, root / "model", "accepted", {}, "2026-05-01T00:00:00Z", "k")
    score_latest(FeatureStore(root / "store"), CONTRACTS, ["activity"], version, audit=AuditLog(root / "audit"),
                 actor=ACTOR, state=root / "state")
""")


@pytest.mark.parametrize("point", ["audit.locked", "audit.before_write", "audit.written"])
def test_a_kill_while_auditing_a_batch_leaves_a_verifiable_trail_and_a_readable_store(tmp_path, point) -> None:
    store = FeatureStore(tmp_path / "store")
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 3},
                            {"customer_id": "b", "event_time": 2, "sessions": 9}])
    tiny_fit().save(tmp_path / "model")
    audit = AuditLog(tmp_path / "audit")
    audit.append("test.start", "x", {}, actor=ACTOR)  # a chain to keep intact
    env = {**os.environ, "DRIFTLINE_FAULT": point, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr

    assert AuditLog(tmp_path / "audit").verify(_NoCheckpoints()).ok
    assert store.read(P.PREDICTIONS_GROUP).height == 2  # the commit landed whole before the kill
    assert len(store.ingested_sources(P.PREDICTIONS_GROUP)) == 1
    version = ModelVersion("churn", 1, tmp_path / "model", "accepted", {}, "2026-05-01T00:00:00Z", "k")
    again = score_latest(store, CONTRACTS, ["activity"], version, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                         state=tmp_path / "state")
    assert again.rows == 2 and again.delta_version == 1
    actions = [e.action for e in AuditLog(tmp_path / "audit").entries()]
    assert actions.count("model.score") in (1, 2)  # the killed batch's entry may have reached the disk whole


def test_a_kill_while_writing_the_out_file_leaves_the_old_file_and_the_committed_batch(tmp_path) -> None:
    store = FeatureStore(tmp_path / "store")
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 3}])
    tiny_fit().save(tmp_path / "model")
    (tmp_path / "out.csv").write_text("old\n")
    child_code = CHILD.replace("state=root / \"state\")", "state=root / \"state\", out=root / \"out.csv\")")
    assert child_code != CHILD
    env = {**os.environ, "DRIFTLINE_FAULT": "score.out.staged",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", child_code, str(tmp_path)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert (tmp_path / "out.csv").read_text() == "old\n"  # never half a file
    assert store.read(P.PREDICTIONS_GROUP).height == 1  # the batch itself was committed before
    assert [e.action for e in AuditLog(tmp_path / "audit").entries()] == ["model.score"]
