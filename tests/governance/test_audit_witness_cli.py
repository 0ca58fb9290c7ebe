"""The audit trail's trust promises as the user meets them: `audit verify` exit codes with a witness,
and `audit checkpoint` refusing an entry no key holder wrote (issue 12, items 1 and 2).

Each test runs `python -m flows` (no Prefect is imported by these commands) on a small data home made
by `keys init` (which appends `key.init`) and `keys rotate` (audited and checkpointed); the
witness folder is the test's own
(tests/conftest.py), outside the data home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.canonical import canonical_json, sha256_hex

REPO = Path(__file__).resolve().parents[2]


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFTLINE_HOME": str(home), "DRIFTLINE_KEY_PASSPHRASE": "test-passphrase-1234",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "flows", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def one_line_failure(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert cli(home, "keys", "init").returncode == 0
    grow(home)
    verified = cli(home, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    return home


def grow(home: Path) -> None:
    """One more signed entry (a key rotation audits itself and checkpoints)."""
    assert cli(home, "keys", "rotate").returncode == 0


def test_verify_names_the_witness_it_relied_on(home: Path) -> None:
    result = cli(home, "audit", "verify")
    assert result.returncode == 0 and "witness " in result.stdout and "saw 2 entries" in result.stdout


def test_deleted_checkpoints_fail_verify(home: Path) -> None:
    (home / "audit" / "checkpoints.jsonl").unlink()
    one_line_failure(cli(home, "audit", "verify"), 3, "checkpoints vouch for 0 entries", "witness")


def test_truncated_checkpoints_fail_verify(home: Path) -> None:
    grow(home)
    assert cli(home, "audit", "verify").returncode == 0
    cps = home / "audit" / "checkpoints.jsonl"
    lines = cps.read_bytes().splitlines(keepends=True)
    cps.write_bytes(b"".join(lines[:-1]))
    one_line_failure(cli(home, "audit", "verify"), 3, "checkpoints.jsonl was deleted, truncated or rolled back")


def test_log_and_checkpoints_rolled_back_together_fail_verify(home: Path, tmp_path: Path) -> None:
    saved = tmp_path / "old-audit"
    shutil.copytree(home / "audit", saved)  # a consistent, validly signed older state
    grow(home)
    assert cli(home, "audit", "verify").returncode == 0
    shutil.rmtree(home / "audit")
    shutil.copytree(saved, home / "audit")
    one_line_failure(cli(home, "audit", "verify"), 3, "rolled back", "witness")


def test_whole_trail_deleted_fails_verify(home: Path) -> None:
    shutil.rmtree(home / "audit")
    one_line_failure(cli(home, "audit", "verify"), 3, "holds 0 intact entries", "witness")


def test_entries_after_the_last_checkpoint_are_unverified_exit_4(home: Path) -> None:
    log = home / "audit" / "log.jsonl"
    before = log.read_bytes()
    code = ("from tasks.workspace import Workspace\nws = Workspace.open()\n"
            "ws.audit.append('note', 'x', {}, actor=ws.actor())\n")
    env = {**os.environ, "DRIFTLINE_HOME": str(home), "DRIFTLINE_KEY_PASSPHRASE": "test-passphrase-1234",
           "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=120)
    assert log.read_bytes().startswith(before)
    result = cli(home, "audit", "verify")
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "unverified: 1 entries after the last checkpoint" in result.stderr
    assert cli(home, "audit", "checkpoint").returncode == 0  # written with the key: signed
    assert cli(home, "audit", "verify").returncode == 0


def test_a_hand_appended_entry_is_never_signed(home: Path) -> None:
    log = home / "audit" / "log.jsonl"
    last = json.loads(log.read_bytes().splitlines()[-1])
    body = {"seq": last["seq"] + 1, "time": last["time"], "actor": last["actor"], "action": "model.promote",
            "subject": "model:churn:v9", "details": {"alias": "champion"}, "prev_hash": last["hash"]}
    forged = {**body, "hash": sha256_hex(canonical_json(body))}  # a correct chain hash
    with open(log, "ab") as handle:
        handle.write(canonical_json(forged) + b"\n")
    seq = body["seq"]
    one_line_failure(cli(home, "audit", "checkpoint"), 3, f"audit entry {seq}", "carries no MAC")
    # Any command that would checkpoint refuses too; the forged entry stays unverified, never signed.
    one_line_failure(cli(home, "keys", "rotate"), 3, f"audit entry {seq}")
    assert cli(home, "audit", "verify").returncode == 4


def test_a_witness_folder_inside_the_home_is_refused(home: Path) -> None:
    env_home = home / "state" / "witness"
    result = subprocess.run([sys.executable, "-m", "flows", "audit", "verify"], cwd=REPO, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "DRIFTLINE_HOME": str(home), "DRIFTLINE_WITNESS_DIR": str(env_home),
                                 "PYTHONPATH": str(REPO)})
    one_line_failure(result, 2, "inside the data home")


def test_a_corrupt_witness_is_a_clear_integrity_error(home: Path) -> None:
    witness = next(Path(os.environ["DRIFTLINE_WITNESS_DIR"]).glob("*.json"))
    witness.write_bytes(witness.read_bytes()[:-9])
    one_line_failure(cli(home, "audit", "verify"), 3, str(witness), "unreadable")
