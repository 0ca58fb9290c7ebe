"""landing/ as an inbox: handled drops leave after the retention period, waiting ones never do, and
erasure finds an entity in every kind of drop, compressed Parquet included."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from features.landing import Handled, drops, expire, mentioning
from features.readers import mentions

DAY = 86_400


def _age(path, days: float) -> None:
    moment = datetime.now(UTC).timestamp() - days * DAY
    os.utime(path, (moment, moment))


def test_only_handled_drops_older_than_the_retention_are_removed(ingest_env, row) -> None:
    env = ingest_env
    old_stored = env.csv("old.csv", [row(1)])
    new_stored = env.csv("new.csv", [row(2)])
    old_rejected = env.csv("ragged.csv", [row(3) + ",x"])
    env.ingest(old_stored, new_stored, old_rejected)
    old_waiting = env.csv("waiting.csv", [row(4)])  # landed long ago, never ingested
    same_bytes_again = env.drop("copy.csv", old_stored.read_bytes())  # its content is stored
    for path in (old_stored, old_rejected, old_waiting, same_bytes_again):
        _age(path, 10)
    _age(new_stored, 1)
    (env.home.landing / "customer_activity" / ".part-upload.csv").write_text("partial")
    removed = expire(env.home.landing, env.store, env.quarantine, keep=timedelta(days=7), now=datetime.now(UTC))
    assert sorted(p.name for p in removed) == ["copy.csv", "old.csv", "ragged.csv"]
    assert [p.name for p in drops(env.home.landing)] == ["new.csv", "waiting.csv"]
    assert (env.home.landing / "customer_activity" / ".part-upload.csv").exists()


def test_handled_knows_stored_and_wholly_quarantined_contents(ingest_env, row) -> None:
    env = ingest_env
    stored, rejected = env.csv("a.csv", [row(1)]), env.csv("b.csv", [row(2) + ",x"])
    waiting = env.csv("c.csv", [row(3)])
    env.ingest(stored, rejected)
    handled = Handled.read(env.store, env.quarantine, ["customer_activity"])
    assert (stored in handled, rejected in handled, waiting in handled) == (True, True, False)


def test_an_entity_is_found_in_csv_gzip_jsonl_and_compressed_parquet(tmp_path) -> None:
    frame = pl.DataFrame({"customer_id": [f"C{i:06d}" for i in range(2000)], "v": range(2000)})
    sink = io.BytesIO()
    frame.write_parquet(sink, compression="zstd")
    assert b"C000042" not in sink.getvalue()  # compressed: a byte search alone would miss it
    files = {"a.parquet": sink.getvalue(), "b.csv.gz": gzip.compress(frame.write_csv().encode()),
             "c.jsonl": frame.write_ndjson().encode(), "d.csv": b"customer_id,v\nC999999,1\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = sorted(tmp_path.iterdir())
    assert [p.name for p in mentioning(paths, "customer_id", ["C000042"])] == ["a.parquet", "b.csv.gz", "c.jsonl"]
    assert not mentions(tmp_path / "d.csv", "customer_id", ["C000042"])
    assert mentions(tmp_path / "d.csv", "customer_id", ["C999999"])


def test_the_inbox_and_the_watcher_agree_on_what_a_drop_is(tmp_path) -> None:
    # One rule (driftline.home.drop_files) for ingest's sweep and the watcher: an unknown type is a
    # drop (ingestion quarantines it with its reason); files still being written and dotfiles not.
    from flows.watch import scan

    group = tmp_path / "landing" / "customer_activity"
    (tmp_path / "landing" / ".processed").mkdir(parents=True)
    group.mkdir()
    for name in ("a.csv", "report.xlsx", "b.parquet.part", ".c.csv", "d.jsonl.tmp"):
        (group / name).write_text(name)
    (tmp_path / "landing" / ".processed" / "old.csv").write_text("x")
    assert [p.name for p in drops(tmp_path / "landing")] == ["a.csv", "report.xlsx"]
    assert sorted(Path(a.paths[0]).name for a in scan(tmp_path / "landing")) == ["a.csv", "report.xlsx"]


def test_handled_hashes_a_drop_as_data_never_through_a_link_or_fifo(tmp_path: Path) -> None:
    # A drop swapped for a link (or a FIFO) after it was listed: expiry must not judge it by the
    # target's bytes (nor block reading a FIFO), so it is never "handled" and never removed.
    secret = tmp_path / "secret.csv"
    secret.write_bytes(b"stored bytes")
    group = tmp_path / "landing" / "g"
    group.mkdir(parents=True)
    (group / "link.csv").symlink_to(secret)
    os.mkfifo(group / "pipe.csv")
    handled = Handled({"g": frozenset({hashlib.sha256(b"stored bytes").hexdigest()})})
    assert (group / "link.csv") not in handled
    assert (group / "pipe.csv") not in handled
