"""kill -9 at each write point of the contract ledger (features.evolution.ContractLedger): after
the kill a rerun of the same admit leaves one current contract and exactly one history record of
the change; a torn history line is never read as a record, and the next admit cuts it; the
history line is fsynced before the contract it records replaces the current one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from driftline.errors import ContractError
from features.contracts import FeatureGroupContract, load_contracts
from features.evolution import ContractChange, ContractLedger, check_evolution

ROOT = Path(__file__).resolve().parents[2]
GROUP = "customer_billing"
CHILD = """
import sys
from pathlib import Path
from features.contracts import FeatureGroupContract, load_contracts
from features.evolution import ContractLedger
old = load_contracts()["customer_billing"]
data = old.to_dict()
data["version"] = int(sys.argv[2])
data["columns"] = data["columns"] + [{"name": f"extra_{n}", "dtype": "float64", "nullable": True}
                                     for n in range(2, int(sys.argv[2]) + 1)]
ContractLedger(Path(sys.argv[1])).admit(FeatureGroupContract.from_dict(data))
"""


def version(n: int) -> FeatureGroupContract:
    """The demo's billing contract at version ``n``: one nullable column added per version."""
    data: dict[str, Any] = load_contracts()[GROUP].to_dict()
    data["version"] = n
    data["columns"] = data["columns"] + [{"name": f"extra_{k}", "dtype": "float64", "nullable": True}
                                         for k in range(2, n + 1)]
    return FeatureGroupContract.from_dict(data)


def run_child(root: Path, to: int, fault: str) -> int:
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, str(root), str(to)], env=env, cwd=ROOT,
                          timeout=120).returncode


@pytest.fixture
def ledger(tmp_path: Path) -> ContractLedger:
    ledger = ContractLedger(tmp_path / "_contracts")
    ledger.root.mkdir()
    assert ledger.admit(version(1)) is None
    return ledger


@pytest.mark.parametrize("fault", ["contracts.history", "contracts.current"])
def test_kill_during_admit_then_rerun_records_the_change_once(ledger: ContractLedger, fault: str) -> None:
    assert run_child(ledger.root, 2, fault) == -signal.SIGKILL
    current = ledger.current(GROUP)
    assert current == (version(2) if fault == "contracts.current" else version(1))
    ledger.admit(version(2))  # the ingest that died is run again
    assert ledger.current(GROUP) == version(2)
    assert [(c.from_version, c.to_version, c.plan.added) for c in ledger.history(GROUP)] == [(1, 2, ("extra_2",))]
    ledger.admit(version(3))
    assert [(c.from_version, c.to_version) for c in ledger.history(GROUP)] == [(1, 2), (2, 3)]


def test_a_torn_history_line_is_refused_then_cut_by_the_next_admit(ledger: ContractLedger) -> None:
    ledger.admit(version(2))
    history = ledger.root / f"{GROUP}.history.jsonl"
    whole = history.read_bytes()
    with history.open("ab") as handle:  # what a machine crash mid-append leaves
        handle.write(ContractChange.parse(whole, where="x").to_line()[:25])
    with pytest.raises(ContractError, match="torn"):
        ledger.history(GROUP)
    ledger.admit(version(3))
    assert [(c.from_version, c.to_version) for c in ledger.history(GROUP)] == [(1, 2), (2, 3)]
    assert history.read_bytes().startswith(whole)


def test_a_bad_history_line_names_the_line(ledger: ContractLedger) -> None:
    ledger.admit(version(2))
    history = ledger.root / f"{GROUP}.history.jsonl"
    history.write_bytes(history.read_bytes() + b'{"from": 2}\n')
    with pytest.raises(ContractError, match="line 2"):
        ledger.history(GROUP)


def test_the_history_line_is_fsynced_before_the_contract_is_replaced(
        ledger: ContractLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        synced.append(f"replace {os.path.basename(dst)}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    ledger.admit(version(2))
    history = f"{GROUP}.history.jsonl"
    assert history in synced
    assert synced.index(history) < synced.index(f"replace {GROUP}.json")
    # The history file was created by this admit, so its folder entry is made durable too.
    assert "_contracts" in synced[synced.index(history):]


def test_a_change_record_round_trips() -> None:
    change = ContractChange(1, 2, check_evolution(version(1), version(2)))
    assert ContractChange.parse(change.to_line(), where="test") == change
