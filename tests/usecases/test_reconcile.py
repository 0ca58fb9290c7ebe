"""Reconcile's bookkeeping: the watermark only saves work, bad inputs are refused, tampered
versions are never recorded as registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftline.errors import InputError
from registry.aliases import AliasBook
from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, gate_report, lineage
from usecases.reconcile import WATERMARK_FILE, reconcile
from usecases.registration import candidate_identity, register_candidate


def unaudited_version(ws: Workspace, seed: str) -> int:
    """A version published with no model.register entry, as a kill after the rename leaves it."""
    return ws.registry.register("churn", files={**FILES, "model.txt": seed.encode()}, metadata=lineage(seed),
                                status="accepted", key=ws.signing_key()).version


def registered(ws: Workspace) -> list[str]:
    return [e.subject for e in ws.audit.entries() if e.action == "model.register"]


def test_second_start_reads_only_what_is_new(home: Path) -> None:
    ws = Workspace.open()
    unaudited_version(ws, "1")
    first = reconcile(ws)
    assert (first.versions, first.full_scan) == (1, True)
    second = reconcile(ws)
    assert second.recovered == 0 and not second.full_scan
    assert second.audit_entries_scanned <= 2  # the recovered entry, not the whole trail
    unaudited_version(ws, "2")
    assert reconcile(ws).versions == 1
    assert registered(ws) == ["model:churn:v1", "model:churn:v2"]


@pytest.mark.parametrize("damage", ["missing", "garbage", "beyond-the-end", "another-trail"])
def test_a_lost_or_wrong_watermark_only_makes_the_scan_longer(home: Path, damage: str) -> None:
    ws = Workspace.open()
    unaudited_version(ws, "1")
    reconcile(ws)
    mark = ws.home.state / WATERMARK_FILE
    unaudited_version(ws, "2")
    if damage == "missing":
        mark.unlink()
    elif damage == "garbage":
        mark.write_bytes(b"{not json")
    elif damage == "beyond-the-end":  # claims a longer trail, and every version reconciled
        mark.write_text(mark.read_text().replace('"offset":', '"offset":9999').replace('"churn":1', '"churn":9'))
    else:  # a trail that does not continue from the recorded head (rewritten since)
        doc = json.loads(mark.read_text())
        doc["audit"]["head"], doc["versions"]["churn"] = "1" * 64, 9
        mark.write_text(json.dumps(doc))
    report = reconcile(ws)
    assert report.versions == 1 and report.full_scan
    assert registered(ws) == ["model:churn:v1", "model:churn:v2"]


def test_a_version_that_does_not_verify_is_not_recorded(home: Path) -> None:
    ws = Workspace.open()
    number = unaudited_version(ws, "1")
    model = ws.home.registry / "churn" / str(number) / "model.txt"
    model.write_bytes(b"X" + model.read_bytes()[1:])  # one byte flipped
    report = reconcile(ws)
    assert report.versions == 0 and len(report.unverified) == 1
    assert registered(ws) == []


def test_an_alias_change_without_entry_is_recovered_once(home: Path) -> None:
    ws = Workspace.open()
    register_candidate(ws, files=FILES, lineage=lineage("1"), report=gate_report())
    ws.registry.promote("churn", 1, actor="ana", reason="by hand")  # the swap, and no entry
    assert reconcile(ws).alias_changes == 1
    assert reconcile(ws).alias_changes == 0
    (entry,) = [e for e in ws.audit.entries() if e.action == "model.promote"]
    assert entry.details["recovered"] is True and entry.details["to"] == 1
    assert len(AliasBook(ws.home.registry / "churn", ws.trust).read().history) == 1


def test_bad_candidates_are_refused(home: Path) -> None:
    ws = Workspace.open()
    with pytest.raises(InputError, match="model.txt"):
        candidate_identity({"weights.bin": b"x"}, lineage())
    with pytest.raises(InputError, match="lineage lacks"):
        candidate_identity(FILES, {"data": {}})
    with pytest.raises(InputError, match="identity"):
        ws.registry.register("churn", files=FILES, metadata={}, status="accepted", key=ws.signing_key(),
                             identity="")
    with pytest.raises(InputError, match="set by the registry"):
        ws.registry.register("churn", files=FILES, metadata={"candidate": "x"}, status="accepted",
                             key=ws.signing_key())
