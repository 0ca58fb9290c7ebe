"""Retention on a few rows: exactly the rows older than the contract's ``retention_days`` go, their
Parquet files are gone from the disk (bytes scanned), one ``retention`` entry with counts only,
checkpointed and verifying; a kill between the delete and the vacuum, or before the entry, is
finished by the rerun; bad ``retention_days`` values are refused by the contract."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from driftline.errors import ContractError, InputError
from features.contract_toml import contract_toml
from features.contracts import FeatureGroupContract, load_contract
from tasks.workspace import Workspace
from tests.usecases.small import ACTIVITY, LABELS, T0, put
from tests.usecases.test_keys import actions, assert_checkpointed
from usecases.retention import enforce_retention

REPO = Path(__file__).resolve().parents[2]
NOW = T0 + timedelta(days=10)  # cutoff of a 400-day retention: T0 - 390 days
DAY = 24 * 60  # put() takes minutes after T0
EXPIRED = ["C000001", "C000002"]
KEPT = ["C000003", "C000004"]


@pytest.fixture
def ws(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "activity.toml").write_text(contract_toml(dataclasses.replace(ACTIVITY, retention_days=400)))
    (contracts / "labels.toml").write_text(contract_toml(LABELS))
    monkeypatch.setenv("DRIFTLINE_CONTRACTS_DIR", str(contracts))
    ws = Workspace.open()
    # The expired rows in their own commit (their own Parquet file), the kept ones in another.
    put(ws.store, "activity", [{"customer_id": "C000001", "event_time": -500 * DAY, "sessions": 1},
                               {"customer_id": "C000002", "event_time": -391 * DAY, "sessions": 2}], source="a" * 64)
    put(ws.store, "activity", [{"customer_id": "C000003", "event_time": -389 * DAY, "sessions": 3},
                               {"customer_id": "C000004", "event_time": 0, "sessions": 4}], source="b" * 64)
    put(ws.store, "labels", [{"customer_id": "C000001", "event_time": -500 * DAY, "y": 1}])  # no retention set
    ws.signing_key()
    return ws


def files_holding(root: Path, values: list[str]) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and any(v.encode() in p.read_bytes() for v in values))


def test_retention_deletes_exactly_the_expired_rows_and_their_files(ws: Workspace) -> None:
    table = ws.store.root / "activity"
    assert files_holding(table, EXPIRED)  # the scan can see them: plain bytes in the Parquet file
    before = len(actions(ws))
    result = enforce_retention(ws, now=NOW)
    assert sorted(ws.store.read("activity")["customer_id"].to_list()) == KEPT
    assert ws.store.read("labels").height == 1  # a group without retention_days keeps its rows
    assert files_holding(table, EXPIRED) == []  # vacuumed: physically gone, log included
    assert files_holding(table, KEPT)
    (group,) = result.groups
    assert (group.group, group.rows_deleted, group.retention_days) == ("activity", 2, 400)
    assert group.cutoff == "2025-02-04T00:00:00.000000Z" and group.files_removed >= 1
    assert actions(ws)[before:] == ["retention"] and result.audited
    entry = list(ws.audit.entries())[-1]
    assert entry.details["groups"]["activity"]["rows_deleted"] == 2 and entry.details["rows_deleted"] == 2
    assert files_holding(ws.home.root / "audit", [*EXPIRED, *KEPT]) == []  # counts only, never an id
    assert_checkpointed(ws)


def test_nothing_expired_writes_nothing(ws: Workspace) -> None:
    enforce_retention(ws, now=NOW)
    head = ws.audit.head()
    again = enforce_retention(ws, now=NOW)
    assert not again.audited and again.rows_deleted == 0 and ws.audit.head() == head


CHILD = textwrap.dedent("""
    from datetime import datetime
    from tasks.workspace import Workspace
    from usecases.retention import enforce_retention
    enforce_retention(Workspace.open(), now=datetime.fromisoformat(%r))
""")


def killed_retention(point: str) -> None:
    """``enforce_retention`` at NOW in a child process of this environment, SIGKILLed at ``point``."""
    env = {**os.environ, "DRIFTLINE_FAULT": point,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD % NOW.isoformat()], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr


@pytest.mark.parametrize("point", ["retention.deleted", "retention.vacuumed", "audit.written"])
def test_a_kill_on_the_retention_path_is_finished_by_the_rerun(ws: Workspace, point: str) -> None:
    killed_retention(point)
    assert sorted(ws.store.read("activity")["customer_id"].to_list()) == KEPT  # the delete committed
    assert ws.audit.verify(ws.trust).ok
    enforce_retention(ws, now=NOW)
    assert sorted(ws.store.read("activity")["customer_id"].to_list()) == KEPT
    assert files_holding(ws.store.root / "activity", EXPIRED) == []
    counted = [e.details["groups"]["activity"]["rows_deleted"] for e in ws.audit.entries() if e.action == "retention"]
    assert sum(counted) == 2  # every deleted row counted once, the killed run's included
    assert_checkpointed(ws)


@pytest.mark.parametrize("value", [0, -1, "400", 1.5, True])
def test_a_bad_retention_days_is_refused_by_the_contract(value: object) -> None:
    data = {**ACTIVITY.to_dict(), "retention_days": value}
    with pytest.raises(ContractError, match="retention_days"):
        FeatureGroupContract.from_dict(data)


def test_retention_days_round_trips_through_toml(tmp_path: Path) -> None:
    contract = dataclasses.replace(ACTIVITY, retention_days=400)
    (tmp_path / "a.toml").write_text(contract_toml(contract))
    assert "retention_days = 400" in (tmp_path / "a.toml").read_text()
    assert load_contract(tmp_path / "a.toml") == contract
    assert "retention_days" not in ACTIVITY.to_dict()  # contracts without it record the same bytes as before


def test_a_naive_time_is_refused_before_anything_is_deleted(ws: Workspace) -> None:
    with pytest.raises(InputError, match="time zone"):
        enforce_retention(ws, now=datetime(2026, 3, 11))
    assert ws.store.read("activity").height == 4
