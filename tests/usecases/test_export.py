"""The export use case: one `audit.export` entry, checkpointed, a bundle that verifies; and kill -9
at its write points leaves no bundle that `verify-export` accepts at the target, and a rerun works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.errors import InputError
from governance.export import verify_bundle
from tasks.workspace import Workspace
from tests.usecases.test_keys import actions, assert_checkpointed
from usecases.export import export_audit

ROOT = Path(__file__).resolve().parents[2]


def cli_export(out: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DRIFTLINE_FAULT", None)
    if fault:
        env["DRIFTLINE_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "flows", "audit", "export", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_export_audits_once_checkpoints_and_verifies(ws: Workspace, tmp_path: Path) -> None:
    before = len(actions(ws))
    done = export_audit(ws, out=tmp_path / "bundle")
    assert done.path == tmp_path / "bundle" and done.masked_fields  # the demo contracts tag PII columns
    assert actions(ws)[before:] == ["audit.export"]
    assert_checkpointed(ws)
    result = verify_bundle(done.path, ws.trust.public_pems())
    assert result.ok and result.versions == 2, result.problems


def test_export_refuses_an_existing_target_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    log = ws.audit.log_path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        export_audit(ws, out=tmp_path / "taken")
    assert ws.audit.log_path.read_bytes() == log


def test_killed_before_the_rename_leaves_no_bundle_and_the_rerun_writes_it(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    killed = cli_export(out, "export.staged")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists() and not verify_bundle(out, ws.trust.public_pems()).ok
    assert "audit.export" not in actions(ws) and ws.audit.verify(ws.trust).ok
    rerun = cli_export(out)
    assert rerun.returncode == 0, rerun.stderr
    assert verify_bundle(out, ws.trust.public_pems()).ok
    assert not (tmp_path / ".bundle.partial").exists()  # the killed run's staging cleared
    assert actions(ws).count("audit.export") == 1
    assert_checkpointed(ws)


def test_killed_after_the_rename_leaves_a_whole_bundle_without_its_entry(ws: Workspace, tmp_path: Path) -> None:
    """The bundle is whole (it verifies) but unaudited; the same target is refused, a new one works."""
    out = tmp_path / "bundle"
    killed = cli_export(out, "export.renamed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert verify_bundle(out, ws.trust.public_pems()).ok
    assert "audit.export" not in actions(ws) and ws.audit.verify(ws.trust).ok
    again = cli_export(out)
    assert again.returncode == 2 and "already exists" in again.stderr
    rerun = cli_export(tmp_path / "bundle-2")
    assert rerun.returncode == 0, rerun.stderr
    assert actions(ws).count("audit.export") == 1
    assert_checkpointed(ws)
