"""Drops read as data only: no link followed, no special file read, no glob expanded, the quarantine
owner-only, a poisoned drop never read twice, and staging left by a killed ingestion swept."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.home import drop_files
from driftline.settings import load_settings, settings_override
from driftline.staging import remove_dead_staging
from features.drop_guard import LineMeter, ReadLimits

SECRET = b"correct horse battery staple\n"
ROOT = Path(__file__).parents[2]


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "keys" / "passphrase"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    return outside


def _nothing_copied(env) -> None:
    for path in env.quarantine.root.rglob("*"):
        assert not path.is_symlink()
        if path.is_file():
            assert SECRET.strip() not in path.read_bytes(), path


def test_a_link_in_landing_is_refused_unread(ingest_env, tmp_path) -> None:
    env = ingest_env
    link = env.home.landing / "customer_activity" / "day_01.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(_secret(tmp_path))
    assert drop_files(env.home.landing) == []  # never listed, so never hashed by the watcher either
    (report,) = env.ingest(link)
    assert report.status == "rejected" and "symbolic link" in report.error
    (record,) = env.quarantine.records()
    assert record.kind == "file" and "symbolic link" in record.reason and record.source == "day_01.csv"
    assert list(record.path.glob("drop-*")) == []  # name and reason only
    _nothing_copied(env)


def test_a_link_to_another_drop_inside_landing_is_refused_too(ingest_env, row) -> None:
    env = ingest_env
    real = env.csv("real.csv", [row(1)])
    link = real.with_name("alias.csv")
    link.symlink_to(real)
    (report,) = env.ingest(link)
    assert report.status == "rejected" and "symbolic link" in report.error


def test_a_linked_group_folder_and_a_dotdot_path_are_refused_unread(ingest_env, tmp_path) -> None:
    env = ingest_env
    secret = _secret(tmp_path)
    (env.home.landing / "customer_activity").symlink_to(secret.parent)
    assert drop_files(env.home.landing) == []
    via_folder = env.home.landing / "customer_activity" / "passphrase"
    climbing = Path(f"{env.home.landing}/customer_billing/../../../keys/passphrase")
    reports = env.ingest(via_folder, climbing)
    assert [r.status for r in reports] == ["rejected", "rejected"]
    assert "leads outside the landing folder" in reports[0].error or "not under the landing" in reports[0].error
    assert "not under the landing folder" in reports[1].error
    assert all(list(r.path.glob("drop-*")) == [] for r in env.quarantine.records())
    _nothing_copied(env)


def test_a_fifo_is_refused_without_blocking(ingest_env) -> None:
    env = ingest_env
    fifo = env.home.landing / "customer_activity" / "pipe.csv"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    assert drop_files(env.home.landing) == []
    (report,) = env.ingest(fifo)  # opening it for reading would wait for a writer forever
    assert report.status == "rejected" and "a FIFO, not a regular file" in report.error


def test_a_drop_named_like_a_glob_is_read_exactly(ingest_env, row) -> None:
    env = ingest_env
    for day in range(1, 6):
        env.csv(f"day_00{day}.csv", [row(i, day=f"2024-01-0{day}T00:00:00Z") for i in range(1, 101)])
    starred = env.csv("day_00*.csv", [row(1, day="2024-02-01T00:00:00Z")])
    (report,) = env.ingest(starred)
    assert (report.status, report.rows_in, report.rows_stored) == ("stored", 1, 1)
    assert env.store.read("customer_activity").height == 1


def test_the_quarantine_is_owner_only(ingest_env, row) -> None:
    env = ingest_env
    env.quarantine.root.chmod(0o755)  # as an older version left it
    reports = env.ingest(env.csv("rows.csv", [row(1), row(2, sessions="-1")]), env.drop("bad.xlsx", b"PK"))
    assert [r.status for r in reports] == ["stored", "rejected"]
    paths = [env.quarantine.root, *env.quarantine.root.rglob("*")]
    folders = [p for p in paths if p.is_dir()]
    files = [p for p in paths if p.is_file()]
    assert len(files) == 4  # rows-00000.jsonl and drop-bad.xlsx, a record each
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_a_poisoned_drop_is_not_read_again(ingest_env, row, monkeypatch) -> None:
    env = ingest_env
    path = env.csv("long.csv", [row(1), row(2, device="x" * 5000)])
    limits = ReadLimits(max_line_bytes=1 << 10)
    (first,) = env.ingest(path, read_limits=limits)
    assert first.status == "rejected" and "DRIFTLINE_INGEST__MAX_LINE_BYTES" in first.error
    import features.ingest_drop as ingest_drop  # where a drop is read

    def never(*_a, **_k):
        raise AssertionError("a poisoned drop was read again")

    monkeypatch.setattr(ingest_drop, "open_drop", never)
    (again,) = env.ingest(path, read_limits=limits)
    assert again.status == "rejected" and "not read again" in again.error
    assert again.content_sha256 == first.content_sha256
    assert not list(env.store.root.glob(".staging-*"))


def test_a_gzip_bomb_stops_at_the_limit(ingest_env, monkeypatch) -> None:
    env = ingest_env
    import gzip
    import zlib

    # 64 MiB of newlines in about 64 KiB: read at most the limit, a chunk at a time.
    bomb = gzip.compress(b"customer_id\n" + b"\n" * (64 << 20), compresslevel=9)
    path = env.drop("bomb.csv.gz", bomb)
    decompressed = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *a, **k):
            self._inner = real(*a, **k)

        def decompress(self, data, max_length=0):
            out = self._inner.decompress(data, max_length)
            decompressed.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    (report,) = env.ingest(path, read_limits=ReadLimits(max_decompressed_bytes=1 << 20))
    assert report.status == "rejected" and "decompresses to more than 1 MiB" in report.error
    assert decompressed and sum(decompressed) <= (1 << 20) + (2 << 20) and max(decompressed) <= 1 << 20
    assert not list(env.store.root.glob(".staging-*"))


def test_line_meter_finds_long_lines_across_chunks() -> None:
    meter = LineMeter(10)
    data = b"short\n" + b"x" * 11 + b"\nok\n"
    size = meter.chunk_size()
    found = [meter.feed(data[i:i + size]) for i in range(0, len(data), size)]
    assert next(f for f in found if f is not None) == 2
    exact = LineMeter(10)
    assert all(exact.feed(c) is None for c in (b"x" * 10, b"\n", b"y" * 10, b"\n"))


def test_staging_of_dead_processes_is_removed_live_ones_kept(ingest_env, row) -> None:
    env = ingest_env
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    env.store.root.mkdir(parents=True, exist_ok=True)
    dead = env.store.root / f".staging-{gone.pid}-abc"
    live = env.store.root / f".staging-{os.getpid()}-def"
    unnamed = env.store.root / ".staging-xyz"
    for folder in (dead, live, unnamed):
        folder.mkdir()
    env.ingest(env.csv("a.csv", [row(1)]))
    assert not dead.exists() and live.exists() and unnamed.exists()
    assert remove_dead_staging(env.store.root) == []


_SCRIPT = ("import sys; sys.path.insert(0, sys.argv[1]); "
           "from features.contracts import load_contracts; from features.ingest import ingest_files; "
           "from features.store import FeatureStore; from features.quarantine import Quarantine; "
           "from pathlib import Path; from datetime import datetime, UTC; h = Path(sys.argv[2]); "
           "ingest_files([Path(sys.argv[3])], load_contracts(), FeatureStore(h / 'store'), "
           "Quarantine(h / 'quarantine'), landing_root=h / 'landing', now=datetime(2024, 3, 1, tzinfo=UTC))")


def _killed_at(point: str, env, path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(ROOT), str(env.home.root), str(path)],
                          env={**os.environ, "DRIFTLINE_FAULT": point, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == -signal.SIGKILL


def test_killed_ingestion_leaves_staging_the_next_one_removes(ingest_env, row) -> None:
    env = ingest_env
    path = env.csv("a.csv", [row(1), row(2)])
    _killed_at("ingest.before_commit", env, path)
    assert len(list(env.store.root.glob(".staging-*"))) == 1  # what kill -9 leaves
    report = env.one(path)
    assert report.status == "stored" and report.rows_stored == 2
    assert list(env.store.root.glob(".staging-*")) == []


def test_killed_while_quarantining_a_file_then_rerun_keeps_it_whole(ingest_env, row) -> None:
    env = ingest_env
    data = ("\n".join([env.header, row(1)]) + "\n" + "y" * 5000 + "\n").encode()
    path = env.drop("half.csv.gz", __import__("gzip").compress(data)[:-9])  # truncated: rejected whole
    _killed_at("quarantine.file_copied", env, path)
    (folder,) = env.quarantine.root.glob("customer_activity/*")
    assert [p.name.startswith(".drop-") for p in folder.iterdir()] == [True]  # the copy, not in place
    report = env.one(path)
    assert report.status == "rejected"
    (record,) = env.quarantine.records()
    assert [p.name for p in sorted(folder.iterdir())] == ["drop-half.csv.gz", "record.json"]
    assert (folder / "drop-half.csv.gz").read_bytes() == path.read_bytes()
    assert record.reason == report.error


def test_read_limits_come_from_settings() -> None:
    with settings_override(ingest__max_line_bytes="2048", ingest__max_decompressed_bytes="4096"):
        ingest = load_settings().ingest
    assert ReadLimits(**ingest.model_dump()) == ReadLimits(max_line_bytes=2048, max_decompressed_bytes=4096)
    assert ReadLimits(**load_settings().ingest.model_dump()) == ReadLimits()


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_bad_limit_settings_are_refused(value: str) -> None:
    from driftline.errors import ConfigError

    with settings_override(ingest__max_line_bytes=value), pytest.raises(ConfigError, match="max_line_bytes"):
        load_settings()
