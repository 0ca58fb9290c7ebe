"""kill -9 inside the monitor use case: after its HTML report is written, at the ``drift.verdict``
append. The trail must verify (no torn entry), no entry may name a report that is not there, and
monitoring again must write the report and its verdict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from features.store import FeatureStore
from governance.audit import AuditLog
from tests.usecases.small import tiny_fit
from tests.usecases.test_monitor import _activity, _champion, _monitor

REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from features.store import FeatureStore
    from registry.versions import ModelVersion
    from tests.usecases.test_monitor import _monitor

    root = Path(sys.argv[1])
    champion = ModelVersion("churn", 3, root / "registry" / "churn" / "3", "accepted", {"metrics": {"auc": 0.9}},
                            "2026-05-01T00:00:00Z", "k")
    _monitor(root, FeatureStore(root / "store"), champion)
""")


class _NoCheckpoints:
    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        raise AssertionError("no checkpoint was expected")


@pytest.mark.parametrize("point", ["audit.before_write", "audit.written"])
def test_a_kill_at_the_verdict_leaves_no_entry_without_its_report(tmp_path: Path, point: str) -> None:
    store = FeatureStore(tmp_path / "store")
    _activity(store, shift=100)
    champion = _champion(tmp_path, tiny_fit())
    env = {**os.environ, "DRIFTLINE_FAULT": point,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr

    audit = AuditLog(tmp_path / "audit")
    assert audit.verify(_NoCheckpoints()).ok
    for entry in audit.entries():  # audit.written: the entry reached the disk whole, its report first
        assert (tmp_path / "reports" / entry.details["report"]).is_file()
    result = _monitor(tmp_path, store, champion)
    assert result.drifted and result.report.is_file()
    assert [e.action for e in AuditLog(tmp_path / "audit").entries()][-1] == "drift.verdict"
    assert AuditLog(tmp_path / "audit").verify(_NoCheckpoints()).ok
