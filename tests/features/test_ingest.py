"""Ingestion end to end on tiny drops: one commit per group and call, idempotency by content,
duplicate-key rules, batching, concurrency between two real processes, and the whole-call speed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from driftline.errors import IngestError, NotFoundError
from features.contracts import FeatureGroupContract, load_contracts
from features.ingest import group_of, ingest_files
from features.quarantine import Quarantine
from features.store import FeatureStore


def test_group_of_names_the_folder(ingest_env) -> None:
    env = ingest_env
    path = env.csv("a.csv", [])
    assert group_of(path, env.home.landing, env.contracts).name == "customer_activity"
    with pytest.raises(IngestError, match="landing/<group>/<file>"):
        group_of(env.home.landing / "loose.csv", env.home.landing, env.contracts)
    with pytest.raises(NotFoundError, match="'nope'"):
        group_of(env.home.landing / "nope" / "x.csv", env.home.landing, env.contracts)


def test_all_files_of_a_group_land_in_one_commit(ingest_env, row) -> None:
    env = ingest_env
    paths = [env.csv(f"day{d}.csv", [row(i, day=f"2024-01-0{d}T00:00:00Z") for i in range(3)]) for d in (1, 2, 3)]
    labels = env.csv("l.csv", ["C000001,2024-01-05T00:00:00Z,1"], group="churn_labels",
                     header="customer_id,event_time,churned")
    reports = env.ingest(*paths, labels)
    assert [r.status for r in reports] == ["stored"] * 4
    assert {r.delta_version for r in reports[:3]} == {0} and env.store.version("customer_activity") == 0
    assert reports[3].group == "churn_labels" and env.store.version("churn_labels") == 0
    assert env.store.read("customer_activity").height == 9
    assert env.store.ingested_sources("customer_activity") == {r.content_sha256 for r in reports[:3]}


def test_same_content_under_another_name_is_a_duplicate(ingest_env, row) -> None:
    env = ingest_env
    first = env.csv("a.csv", [row(1), row(2)])
    copy = env.drop("b.csv", first.read_bytes())
    reports = env.ingest(first, copy)
    assert [r.status for r in reports] == ["stored", "duplicate"]
    (again,) = env.ingest(first)
    assert again.status == "duplicate" and again.rows_stored == 0 and again.delta_version is None
    assert env.store.read("customer_activity").height == 2 and env.store.version("customer_activity") == 0


def test_keep_latest_later_drop_wins(ingest_env, row) -> None:
    env = ingest_env
    old = env.csv("old.csv", [row(1, sessions="1"), row(2, sessions="1")])
    new = env.csv("new.csv", [row(1, sessions="7")])
    env.ingest(old, new)  # one call: the later drop in the list wins
    read = env.store.read("customer_activity").sort("customer_id")
    assert read["sessions"].to_list() == [7, 1]
    fix = env.csv("fix.csv", [row(2, sessions="9")])
    env.ingest(fix)  # a later call wins too
    assert env.store.read("customer_activity").sort("customer_id")["sessions"].to_list() == [7, 9]


def test_reject_duplicates_quarantines_keys_already_stored(ingest_env) -> None:
    env = ingest_env
    header = "customer_id,event_time,churned"
    first = env.csv("a.csv", ["C000001,2024-01-05T00:00:00Z,1"], group="churn_labels", header=header)
    base = env.contracts["churn_labels"].to_dict()
    env.contracts["churn_labels"] = FeatureGroupContract.from_dict({**base, "duplicates": "reject"})
    env.ingest(first)
    again = env.csv("b.csv", ["C000001,2024-01-05T00:00:00Z,0", "C000002,2024-01-05T00:00:00Z,0"],
                    group="churn_labels", header=header)
    report = env.one(again)
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    assert report.reasons == {"duplicate key": 1}
    assert env.store.read("churn_labels").sort("customer_id")["churned"].to_list() == [1, 0]


def test_small_batches_give_the_same_result(ingest_env, row) -> None:
    env = ingest_env
    rows = [row(i, sessions="-1" if i % 4 == 0 else "2") for i in range(1, 23)] + [row(5)]
    path = env.csv("a.csv", rows)
    report = env.one(path, batch_rows=5)
    # Rows 4, 8, 12, 16, 20 break min 0; the last row repeats C000005 (a duplicate across batches).
    assert (report.rows_in, report.rows_stored, report.rows_quarantined) == (23, 17, 6)
    assert report.reasons == {"sessions: below min 0": 5, "duplicate key": 1}
    (record,) = [r for r in env.quarantine.records() if r.digest == report.content_sha256]
    assert record.rows == 6 and len(list(record.path.glob("rows-*.jsonl"))) > 1  # one part per batch


def test_rows_of_a_file_rejected_midway_are_not_stored(ingest_env, row) -> None:
    env = ingest_env
    good = env.csv("good.csv", [row(1)])
    # The ragged line sits after the first batch: earlier batches were valid but must not land.
    broken = env.csv("broken.csv", [row(i) for i in range(2, 12)] + [row(12) + ",x"])
    reports = env.ingest(good, broken, batch_rows=3)
    assert [r.status for r in reports] == ["stored", "rejected"]
    assert reports[1].rows_in == reports[1].rows_quarantined and reports[1].rows_stored == 0
    assert env.store.read("customer_activity")["customer_id"].to_list() == ["C000001"]
    assert not any(p.name.startswith(".staging") for p in env.store.root.iterdir())


def test_a_rejected_drop_is_retried_when_sent_again(ingest_env, row) -> None:
    env = ingest_env
    path = env.csv("a.csv", [row(1) + ",x"])
    (first,) = env.ingest(path)
    assert first.status == "rejected"
    path.write_text(env.header + "\n" + row(1) + "\n")  # fixed: new content, new digest
    assert env.one(path).status == "stored"


def _ingest_in_process(home: str, names: list[str], landing: str, barrier=None) -> None:
    if barrier is not None:
        barrier.wait(60)  # both processes start reading at once
    ingest_files([Path(n) for n in names], load_contracts(), FeatureStore(Path(home) / "store"),
                 Quarantine(Path(home) / "quarantine"), landing_root=Path(landing),
                 now=datetime(2024, 3, 1, tzinfo=UTC))


def test_two_processes_ingesting_one_group_both_land(ingest_env, row) -> None:
    env = ingest_env
    batches = [[str(env.csv(f"p{p}_{k}.csv", [row(100 * p + k * 10 + i) for i in range(3)])) for k in range(3)]
               for p in (1, 2)]
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_ingest_in_process, args=(str(env.home.root), names, str(env.home.landing)))
               for names in batches]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert env.store.read("customer_activity").height == 18
    assert len(env.store.ingested_sources("customer_activity")) == 6


def test_killed_before_commit_then_rerun_stores_once(ingest_env, row) -> None:
    env = ingest_env
    path = env.csv("a.csv", [row(1), row(2, sessions="-1")])
    script = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from features.contracts import load_contracts; from features.ingest import ingest_files; "
              "from features.store import FeatureStore; from features.quarantine import Quarantine; "
              "from pathlib import Path; from datetime import datetime, UTC; h = Path(sys.argv[2]); "
              "ingest_files([Path(sys.argv[3])], load_contracts(), FeatureStore(h / 'store'), "
              "Quarantine(h / 'quarantine'), landing_root=h / 'landing', now=datetime(2024, 3, 1, tzinfo=UTC))")
    env_vars = {**os.environ, "DRIFTLINE_FAULT": "ingest.before_commit"}
    done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parents[2]), str(env.home.root),
                           str(path)], env=env_vars, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert env.store.version("customer_activity") is None  # nothing half-committed
    report = env.one(path)
    assert (report.status, report.rows_stored, report.rows_quarantined) == ("stored", 1, 1)
    assert [r.rows for r in env.quarantine.records()] == [1]  # rewritten, not doubled


def _drops(env, files: int, rows: int) -> list[Path]:
    rng = random.Random(7)
    paths = []
    for d in range(files):
        day = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=d)).isoformat()
        lines = [",".join([f"C{c:06d}", day, str(rng.randint(0, 20)), f"{rng.random() * 100:.2f}", "",
                           str(rng.randint(0, 3)), rng.choice(["mobile", "desktop", "tablet"])]) for c in range(rows)]
        paths.append(env.csv(f"day{d:03d}.csv", lines))
    return paths


def test_a_group_of_many_drops_lands_in_one_commit(ingest_env) -> None:
    # Speed is measured by benchmarks/bench_ingest.py (--files 60 for many small drops), not here.
    env = ingest_env
    reports = env.ingest(*_drops(env, 12, 200))
    assert sum(r.rows_stored for r in reports) == 2400 and env.store.version("customer_activity") == 0
    assert {r.delta_version for r in reports} == {0}


@pytest.mark.slow
def test_sixty_drops_of_1500_rows_land_whole(ingest_env) -> None:
    env = ingest_env
    reports = env.ingest(*_drops(env, 60, 1500))
    assert sum(r.rows_stored for r in reports) == 90_000
    assert env.store.read("customer_activity").filter(pl.col("sessions") < 0).height == 0


def _raw_rows(env, group: str) -> int:
    """Rows as committed, before readers keep one per key: a drop stored twice counts twice here."""
    return sum(pq.read_metadata(f).num_rows for f in env.store.snapshot(group).files)


def _another_writer_commits_first(env, monkeypatch, *paths: Path) -> None:
    # Another ingestion commits ``paths`` after ours read the store but before ours takes the lock.
    real, raced = env.store.write_lock, []

    def racing(group: str, *args, **kwargs):
        if not raced:
            raced.append(group)
            ingest_files(list(paths), env.contracts, FeatureStore(env.store.root), env.quarantine,
                         landing_root=env.home.landing, now=env.now)
        return real(group, *args, **kwargs)

    monkeypatch.setattr(env.store, "write_lock", racing)


def test_a_drop_committed_meanwhile_by_another_writer_is_a_duplicate(ingest_env, row, monkeypatch) -> None:
    env = ingest_env
    path = env.csv("a.csv", [row(i) for i in range(1, 6)])
    _another_writer_commits_first(env, monkeypatch, path)
    (report,) = env.ingest(path)
    assert report.status == "duplicate"
    assert _raw_rows(env, "customer_activity") == 5


def test_a_reject_group_rechecks_keys_committed_meanwhile(ingest_env, monkeypatch) -> None:
    env = ingest_env
    base = env.contracts["churn_labels"].to_dict()
    env.contracts["churn_labels"] = FeatureGroupContract.from_dict({**base, "duplicates": "reject"})
    header = "customer_id,event_time,churned"
    theirs = env.csv("theirs.csv", ["C000001,2024-01-05T00:00:00Z,1"], group="churn_labels", header=header)
    ours = env.csv("ours.csv", ["C000001,2024-01-05T00:00:00Z,0", "C000002,2024-01-05T00:00:00Z,0"],
                   group="churn_labels", header=header)
    _another_writer_commits_first(env, monkeypatch, theirs)
    (report,) = env.ingest(ours)
    assert (report.status, report.rows_stored, report.rows_quarantined) == ("stored", 1, 1)
    assert report.reasons == {"duplicate key": 1}
    assert _raw_rows(env, "churn_labels") == 2
    assert env.store.read("churn_labels").sort("customer_id")["churned"].to_list() == [1, 0]


def test_two_processes_ingesting_the_same_drop_store_it_once(ingest_env, row) -> None:
    env = ingest_env
    path = str(env.csv("same.csv", [row(i) for i in range(1, 2001)]))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_ingest_in_process, args=(str(env.home.root), [path], str(env.home.landing),
                                                            barrier)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert _raw_rows(env, "customer_activity") == 2000
