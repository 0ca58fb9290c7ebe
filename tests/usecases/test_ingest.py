"""The ingest use case on drops of a few rows: what is stored, quarantined and audited, the per-group
totals, compaction past the bound, expiry of handled drops, and the refusals of bad input."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from driftline.errors import InputError
from features.ingest import IngestReport
from features.quarantine import Quarantine
from features.store import FeatureStore
from governance.audit import AuditLog
from tests.usecases.small import ACTOR, CONTRACTS
from usecases.ingest import GroupTotals, IngestRun, group_totals, ingest_landing, landing_files

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


class World:
    """A landing folder, a store, a quarantine and an audit log under one tmp folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.landing = root / "landing"
        self.store = FeatureStore(root / "store")
        self.quarantine = Quarantine(root / "quarantine")
        self.audit = AuditLog(root / "audit")

    def drop(self, name: str, rows: list[tuple[str, int, str]], group: str = "activity") -> Path:
        """A CSV drop of (customer_id, minute of 2026-03-01, sessions) rows."""
        path = self.landing / group / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{c},2026-03-01T00:{m:02d}:00Z,{s}" for c, m, s in rows]
        path.write_text("\n".join(["customer_id,event_time,sessions", *lines]) + "\n", encoding="utf-8")
        return path

    def run(self, paths: list[Path], **kwargs) -> IngestRun:
        kwargs.setdefault("clock", lambda: NOW)
        return ingest_landing(paths, CONTRACTS, self.store, self.quarantine, landing=self.landing,
                              state=self.root / "state", audit=self.audit, actor=ACTOR, **kwargs)

    def actions(self) -> list[str]:
        return [e.action for e in self.audit.entries()]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_good_rows_are_stored_bad_rows_quarantined_and_each_drop_audited(world: World) -> None:
    drop = world.drop("a.csv", [("c1", 1, "3"), ("c2", 2, "x"), ("c3", 3, "5")])
    run = world.run([drop])

    (report,) = run.reports
    assert (report.status, report.rows_in, report.rows_stored, report.rows_quarantined) == ("stored", 3, 2, 1)
    assert run.totals == (GroupTotals("activity", (report.content_sha256,), 2, 1, report.delta_version),)
    assert sorted(world.store.read("activity")["customer_id"]) == ["c1", "c3"]
    assert world.actions() == ["ingest", "quarantine"]
    ingest, quarantine = world.audit.entries()
    assert ingest.subject == "group:activity" and ingest.details["rows_stored"] == 2
    assert quarantine.details["rows"] == 1 and quarantine.details["file"] == "a.csv"
    assert run.compactions == () and run.expired == ()


def test_a_drop_ingested_again_is_a_duplicate_stored_and_audited_once(world: World) -> None:
    drop = world.drop("a.csv", [("c1", 1, "3")])
    world.run([drop])
    again = world.run([drop])
    assert [r.status for r in again.reports] == ["duplicate"] and again.totals == ()
    assert world.store.read("activity").height == 1 and world.actions() == ["ingest"]


def test_a_drop_of_an_unknown_group_is_rejected_whole_and_audited(world: World) -> None:
    drop = world.drop("z.csv", [("c1", 1, "3")], group="nosuchgroup")
    run = world.run([drop])
    (report,) = run.reports
    assert report.status == "rejected" and report.rows_stored == 0 and run.totals == ()
    assert world.actions() == ["ingest", "quarantine"]
    assert "nosuchgroup" not in world.store.groups()


def test_a_fragmented_group_is_compacted_with_its_rows_unchanged_and_audited(world: World) -> None:
    for day in range(3):  # three runs: three commits, three small files
        run = world.run([world.drop(f"d{day}.csv", [(f"c{day}", day, str(day))])], compact_min_files=3)
    (compaction,) = run.compactions
    assert compaction.group == "activity" and compaction.files_removed == 3 and compaction.files_added == 1
    assert len(world.store.snapshot("activity").files) == 1
    assert sorted(world.store.read("activity")["customer_id"]) == ["c0", "c1", "c2"]
    assert world.actions() == ["ingest"] * 3 + ["store.compact"]
    assert list(world.audit.entries())[-1].details["version_after"] == compaction.version_after


def test_handled_drops_past_the_retention_are_removed_and_recorded_unhandled_ones_kept(world: World) -> None:
    handled = world.drop("old.csv", [("c1", 1, "3")])
    waiting = world.drop("waiting.csv", [("c2", 2, "4")])  # never named, so never ingested
    first = world.run([handled])
    assert first.expired == ()  # landed just now: within the retention
    later = world.run([], clock=lambda: datetime.now(timezone.utc) + timedelta(days=8))
    assert later.expired == (handled,) and later.expired_by_group == {"activity": 1}
    assert not handled.exists() and waiting.exists()
    entry = list(world.audit.entries())[-1]
    assert entry.action == "landing.expire" and entry.details == {"files_by_group": {"activity": 1},
                                                                 "retention_days": 7.0}


def test_landing_files_are_the_named_ones_or_every_waiting_drop_and_a_missing_name_is_refused(world: World) -> None:
    b = world.drop("b.csv", [("c1", 1, "3")])
    a = world.drop("a.csv", [("c1", 1, "3")])
    assert landing_files(world.landing) == [a, b]
    assert landing_files(world.landing, [str(b)]) == [b]
    with pytest.raises(InputError, match="no such file to ingest") as raised:
        landing_files(world.landing, [str(b), str(world.landing / "activity" / "gone.csv")])
    assert raised.value.hint and "landing" in raised.value.hint


def test_a_named_link_is_refused_by_name_never_followed(world: World) -> None:
    target = world.drop("real.csv", [("c1", 1, "3")])
    link = world.landing / "activity" / "link.csv"
    os.symlink(target, link)
    (report,) = world.run(landing_files(world.landing, [str(link)])).reports
    assert report.status == "rejected" and report.rows_stored == 0
    assert "activity" not in world.store.groups()


def _report(group: str, status: str, stored: int, quarantined: int, version: int | None, sha: str) -> IngestReport:
    return IngestReport(file=f"{sha}.csv", group=group, content_sha256=sha, status=status,  # type: ignore[arg-type]
                        rows_in=stored + quarantined, rows_stored=stored, rows_quarantined=quarantined, reasons={},
                        delta_version=version, quarantine_path=None, error=None)


def test_group_totals_sum_the_drops_that_stored_rows_per_group() -> None:
    reports = [_report("b", "stored", 2, 1, 4, "b1"), _report("a", "stored", 1, 0, 7, "a1"),
               _report("b", "stored", 3, 0, 5, "b2"), _report("b", "duplicate", 0, 0, None, "b3"),
               _report("a", "rejected", 0, 9, None, "a2"), _report("c", "stored", 0, 2, None, "c1")]
    assert group_totals(reports) == (GroupTotals("a", ("a1",), 1, 0, 7), GroupTotals("b", ("b1", "b2"), 5, 1, 5))
    assert group_totals([]) == ()


def test_progress_is_told_of_every_drop_whatever_became_of_it(world: World) -> None:
    good = world.drop("a.csv", [("c1", 1, "3")])
    twin = world.drop("b.csv", [("c1", 1, "3")])  # the same bytes: a duplicate within the run
    stray = world.drop("c.csv", [("c2", 2, "4")], group="no_such_group")  # no contract: rejected
    calls: list[tuple[int, int, str]] = []
    run = world.run([good, twin, stray], progress=lambda *c: calls.append(c))
    assert [r.status for r in run.reports] == ["stored", "duplicate", "rejected"]
    assert sorted(calls) == [(1, 3, "c.csv"), (2, 3, "a.csv"), (3, 3, "b.csv")]
    assert world.run([good], progress=None).reports[0].status == "duplicate"  # no callback: nothing needed
