"""``ingest FILE|FOLDER --group NAME`` as a use case: a folder's data files, a group named for files
from anywhere, ignored columns in the ``ingest`` entry, a group without a contract refused before
anything is written, the per-group summary and the verdict the command exits on, and kill -9 on
the named group's write path (before and after its Delta commit)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driftline.errors import InputError, NotFoundError
from features.ingest import IngestReport
from tests.usecases.small import CONTRACTS
from tests.usecases.test_ingest import World
from usecases.ingest import folder_files, landing_files
from usecases.ingest_summary import nothing_stored, summarize

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def outside(world: World, name: str, rows: list[tuple[str, int, str]], header: str = "customer_id,event_time,"
            "sessions") -> Path:
    """A CSV of (customer_id, minute, sessions[, more]) rows in a folder outside landing/."""
    path = world.root / "exports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{c},2026-03-01T00:{m:02d}:00Z,{s}" for c, m, s in rows]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_a_folder_is_its_data_files_sorted_not_recursive(world: World) -> None:
    b, a = outside(world, "b.csv", [("c1", 1, "1")]), outside(world, "a.csv", [("c2", 2, "2")])
    folder = a.parent
    (folder / "README.md").write_text("notes")
    (folder / ".hidden.csv").write_text("x")
    (folder / "c.csv.part").write_text("x")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.csv").write_text("x")
    (folder / "link.csv").symlink_to(a)  # listed, so that ingestion refuses it by name, unread
    assert folder_files(folder) == [a, b, folder / "link.csv"]
    assert landing_files(world.landing, [str(folder), str(a)]) == [a, b, folder / "link.csv", a]


def test_a_folder_with_no_data_files_is_refused_naming_it(world: World) -> None:
    folder = world.root / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="empty holds no data files") as raised:
        landing_files(world.landing, [str(folder)])
    assert ".csv" in (raised.value.hint or "")


def test_files_from_anywhere_are_stored_in_the_named_group_and_audited(world: World) -> None:
    drop = outside(world, "x.csv", [("c1", 1, "3"), ("c2", 2, "4")])
    run = world.run([drop], group="activity")
    (report,) = run.reports
    assert (report.group, report.status, report.rows_stored) == ("activity", "stored", 2)
    (entry,) = world.audit.entries()
    assert entry.action == "ingest" and entry.subject == "group:activity" and "ignored_columns" not in entry.details


def test_ignored_columns_are_named_in_the_ingest_entry(world: World) -> None:
    contracts = {**CONTRACTS, "activity": dataclasses.replace(CONTRACTS["activity"], undeclared="ignore")}
    drop = outside(world, "x.csv", [("c1", 1, "3,extra")], header="customer_id,event_time,sessions,note")
    from usecases.ingest import ingest_landing
    from tests.usecases.small import ACTOR
    from tests.usecases.test_ingest import NOW
    run = ingest_landing([drop], contracts, world.store, world.quarantine, landing=world.landing,
                         state=world.root / "state", audit=world.audit, actor=ACTOR, clock=lambda: NOW,
                         group="activity")
    assert run.reports[0].ignored_columns == ("note",)
    (entry,) = world.audit.entries()
    assert entry.details["ignored_columns"] == ["note"] and entry.details["rows_stored"] == 1
    (summary,) = summarize(run.reports)
    assert summary.ignored_columns == ("note",)


def test_a_group_without_a_contract_is_refused_before_anything_is_written(world: World) -> None:
    drop = outside(world, "x.csv", [("c1", 1, "3")])
    with pytest.raises(NotFoundError, match="'nosuch'"):
        world.run([drop], group="nosuch")
    assert not (world.root / "state").exists() and not (world.root / "store").exists()
    assert not (world.root / "quarantine").exists() and world.actions() == []


def _report(status: str, rows_in: int, stored: int, reasons: dict[str, int] | None = None, *,
            group: str = "activity", name: str = "a.csv", error: str | None = None) -> IngestReport:
    where = None if stored == rows_in and status == "stored" else f"/q/{group}/{name}-digest"
    return IngestReport(name, group, "d" * 64, status, rows_in, stored, rows_in - stored,  # type: ignore[arg-type]
                        reasons or {}, 1 if status == "stored" else None, where, error)


def test_the_summary_counts_rows_names_the_top_three_reasons_and_the_quarantine() -> None:
    reports = [_report("stored", 10, 4, {"a: missing": 3, "b: not int64": 2, "c: pattern": 1}),
               _report("stored", 5, 3, {"b: not int64": 2, "d: too long": 1}, name="b.csv"),
               _report("rejected", 2, 0, {"file rejected": 2}, name="c.csv", error="c.csv: column x missing"),
               _report("duplicate", 0, 0, name="d.csv"),
               _report("stored", 1, 1, group="labels")]
    activity, labels = summarize(reports)
    assert (activity.files, activity.rows_stored, activity.rows_quarantined, activity.duplicates) == (4, 7, 10, 1)
    assert activity.top_reasons == (("b: not int64", 4), ("a: missing", 3), ("c: pattern", 1))
    assert activity.refused == (("c.csv", "c.csv: column x missing"),) and activity.quarantine == "/q/activity"
    assert labels.quarantine is None and labels.top_reasons == ()
    assert any("most common reasons: b: not int64 (4)" in line for line in activity.lines())


def test_the_verdict_fails_a_run_that_refused_every_file_or_quarantined_every_row() -> None:
    refused = [_report("rejected", 0, 0, name="a.csv", error="a.csv: required column(s) event_time missing"),
               _report("rejected", 0, 0, name="b.csv", error="b.csv: unknown file type")]
    line = nothing_stored(refused)
    assert line is not None and "every file was refused" in line and "event_time" in line and "1 more" in line
    all_bad = [_report("stored", 3, 0, {"sessions: not int64": 3})]
    line = nothing_stored(all_bad)
    assert line is not None and "all 3 row(s) were quarantined" in line and "sessions: not int64" in line
    assert "/q/activity/a.csv-digest" in line
    assert nothing_stored(refused + all_bad) is not None
    # Something stored, only duplicates, or only empty drops: no failure.
    assert nothing_stored([*refused, _report("stored", 2, 1, {"x": 1})]) is None
    assert nothing_stored([_report("duplicate", 0, 0)]) is None
    assert nothing_stored([_report("stored", 0, 0)]) is None and nothing_stored([]) is None


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tests.usecases.test_ingest import World
    world = World(Path(sys.argv[1]))
    world.run(sorted((world.root / "exports").iterdir()), group="activity")
""")


@pytest.mark.parametrize("fault", ["ingest.before_commit", "ingest.committed"])
def test_kill_on_the_named_group_path_leaves_nothing_half_written(world: World, fault: str) -> None:
    drops = [outside(world, "a.csv", [("c1", 1, "3")]), outside(world, "b.csv", [("c2", 2, "x")])]
    env = {**os.environ, "DRIFTLINE_FAULT": fault,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(world.root)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    committed = fault == "ingest.committed"
    assert len(world.store.ingested_sources("activity")) == (2 if committed else 0)
    rerun = world.run(drops, group="activity")  # the dead writer's staging folder goes; nothing twice
    assert [r.status for r in rerun.reports] == (["duplicate"] * 2 if committed else ["stored"] * 2)
    assert world.store.read("activity")["customer_id"].to_list() == ["c1"]
    assert not [p for p in (world.root / "store").iterdir() if p.name.startswith(".staging-")]
    assert (world.root / "quarantine" / "activity").is_dir()  # the bad row is kept either way
