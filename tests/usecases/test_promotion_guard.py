"""Item 5: a promotion or rollback that cannot be signed or audited changes nothing.

No passphrase, an audit log that cannot take an append (checked before the swap), and an append
that fails after the swap (undone): each leaves the alias and its history as they were, and the
command line says so in one line with a non-zero exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.errors import AuditUnwritableError, KeyMaterialError
from tasks.workspace import Workspace
from usecases import promotion
from usecases.promotion import promote_version, rollback_alias

ROOT = Path(__file__).resolve().parents[2]


def aliases(ws: Workspace) -> bytes:
    return (ws.home.registry / "churn" / "aliases.json").read_bytes()


def state(ws: Workspace) -> tuple[bytes, bytes]:
    return aliases(ws), ws.audit.log_path.read_bytes()


def break_audit_log(ws: Workspace) -> None:
    """Something root cannot append to either: the log is a folder."""
    ws.audit.log_path.rename(ws.audit.log_path.with_suffix(".kept"))
    ws.audit.log_path.mkdir()


def test_no_passphrase_changes_nothing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    before = state(ws)
    monkeypatch.delenv("DRIFTLINE_KEY_PASSPHRASE")
    with pytest.raises(KeyMaterialError):
        promote_version(Workspace.open(), "churn", 2, reason="no key")
    with pytest.raises(KeyMaterialError):
        rollback_alias(Workspace.open(), "churn", reason="no key")
    assert state(ws) == before


def test_unwritable_audit_is_found_before_the_swap(ws: Workspace) -> None:
    before = aliases(ws)
    break_audit_log(ws)
    with pytest.raises(AuditUnwritableError, match="cannot be appended"):
        promote_version(ws, "churn", 2, reason="audit broken")
    assert aliases(ws) == before
    assert ws.registry.alias("churn", "champion") == 1


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_append_failing_after_the_swap_undoes_it(ws: Workspace, action: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if action == "rollback":
        promote_version(ws, "churn", 2, reason="second")
    before = aliases(ws)
    monkeypatch.setattr(promotion, "probe_audit", lambda audit: None)  # the probe passed, then the log broke
    monkeypatch.setattr(promotion, "reconcile", lambda ws: None)
    break_audit_log(ws)
    with pytest.raises(OSError):
        if action == "promote":
            promote_version(ws, "churn", 2, reason="audit broke late")
        else:
            rollback_alias(ws, "churn", reason="audit broke late")
    assert aliases(ws) == before  # the previous aliases.json, byte for byte


def test_cli_promote_with_unwritable_audit_exits_with_one_line(ws: Workspace) -> None:
    before = aliases(ws)
    break_audit_log(ws)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "flows", "registry", "promote", "churn", "2"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot be appended" in done.stderr and "nothing was changed" in done.stderr
    assert aliases(ws) == before


def test_promoting_the_current_champion_changes_nothing(ws: Workspace) -> None:
    before = state(ws)
    assert promote_version(ws, "churn", 1, reason="again").changed is False
    assert state(ws) == before
