"""Retention of the online server's served rows: they hold the feature values of their requests, so
they go with the shortest ``retention_days`` among the contracts whose features they hold, by
``received_at``; their files are gone from the disk; the ``retention`` entry counts them; a kill
between the delete and the vacuum, or before the entry, is finished by the rerun."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from features.contract_toml import contract_toml
from features.contracts import ColumnSpec, FeatureGroupContract
from features.served_predictions import SERVED_GROUP
from tasks.workspace import Workspace
from tests.serving.served_batches import batch, serve
from tests.usecases.small import ACTIVITY, LABELS, TIME
from tests.usecases.test_keys import assert_checkpointed
from tests.usecases.test_retention import DAY, NOW, files_holding, killed_retention
from usecases.retention import enforce_retention, served_retention_days

EXPIRED, KEPT = ["C000001", "C000002"], ["C000003", "C000004"]


@pytest.fixture
def ws(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "activity.toml").write_text(contract_toml(dataclasses.replace(ACTIVITY, retention_days=400)))
    (contracts / "labels.toml").write_text(contract_toml(dataclasses.replace(LABELS, retention_days=30)))
    monkeypatch.setenv("DRIFTLINE_CONTRACTS_DIR", str(contracts))
    ws = Workspace.open()
    # Served rows only (no feature group stored): requests received 391 and 389 days before the cutoff's
    # reference, as two commits; 400 days is the activity contract's, whose `sessions` they hold.
    serve(ws.store, batch("old", 2, customers=EXPIRED, minutes=-391 * DAY))
    serve(ws.store, batch("new", 2, customers=KEPT, minutes=-389 * DAY))
    ws.signing_key()
    return ws


def test_served_rows_expire_with_the_features_they_hold(ws: Workspace) -> None:
    table = ws.store.root / SERVED_GROUP
    assert files_holding(table, EXPIRED)
    result = enforce_retention(ws, now=NOW)
    assert sorted(ws.store.read(SERVED_GROUP)["customer_id"].to_list()) == KEPT
    assert files_holding(table, EXPIRED) == [] and files_holding(table, KEPT)
    (group,) = result.groups  # 400 days (activity's), not the labels' 30: no request carries a label
    assert (group.group, group.rows_deleted, group.retention_days) == (SERVED_GROUP, 2, 400)
    entry = list(ws.audit.entries())[-1]
    assert entry.action == "retention" and entry.details["groups"][SERVED_GROUP]["rows_deleted"] == 2
    assert_checkpointed(ws)


def test_the_served_retention_is_the_shortest_of_the_contracts_whose_features_it_holds() -> None:
    other = FeatureGroupContract("billing", 1, ("customer_id",), "event_time",
                                 (ACTIVITY.columns[0], TIME, ColumnSpec("spend", "float64")), retention_days=90)
    contracts = {"activity": dataclasses.replace(ACTIVITY, retention_days=400), "billing": other,
                 "labels": dataclasses.replace(LABELS, retention_days=7)}
    layout = ["request_id", "row", "received_at", "customer_id", "score"]
    assert served_retention_days(contracts, [*layout, "sessions"]) == 400
    assert served_retention_days(contracts, [*layout, "sessions", "spend"]) == 90
    assert served_retention_days(contracts, layout) is None  # keys and labels alone never count
    assert served_retention_days({"activity": ACTIVITY}, [*layout, "sessions"]) is None  # no retention set


@pytest.mark.parametrize("point", ["retention.deleted", "retention.vacuumed", "audit.written"])
def test_a_kill_on_the_served_retention_path_is_finished_by_the_rerun(ws: Workspace, point: str) -> None:
    killed_retention(point)
    assert ws.audit.verify(ws.trust).ok
    enforce_retention(ws, now=NOW)
    assert sorted(ws.store.read(SERVED_GROUP)["customer_id"].to_list()) == KEPT
    assert files_holding(ws.store.root / SERVED_GROUP, EXPIRED) == []
    counted = [e.details["groups"][SERVED_GROUP]["rows_deleted"] for e in ws.audit.entries()
               if e.action == "retention"]
    assert sum(counted) == 2
    assert_checkpointed(ws)
