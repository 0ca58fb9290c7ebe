"""The landing watcher's pure part: scanning by content, state, exactly-once announcements, and
no arrival lost while the server is down (a fake emitter stands in for the server)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from flows.watch import Arrival, Backoff, EmitFailed, WatchState, announce_pending, baseline, scan, watch


def _drop(landing, group, name, data: bytes):
    path = landing / group / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


class FlakyServer:
    """Records delivered arrivals; fails while ``down``."""

    def __init__(self):
        self.down = False
        self.delivered: list[Arrival] = []

    def __call__(self, arrival: Arrival) -> None:
        if self.down:
            raise EmitFailed("server unreachable")
        self.delivered.append(arrival)


def test_scan_groups_identical_content_and_skips_unsettled_and_temporary(tmp_path):
    landing = tmp_path / "landing"
    a = _drop(landing, "customer_activity", "day1.csv", b"id,x\n1,2\n")
    _drop(landing, "customer_activity", "copy.csv", b"id,x\n1,2\n")
    _drop(landing, "customer_billing", "b.parquet.part", b"half")
    _drop(landing, "customer_billing", ".hidden.csv", b"h")
    (landing / "stray.csv").write_bytes(b"no group")
    fresh = _drop(landing, "customer_billing", "fresh.csv", b"id\n9\n")
    old = time.time() - 60
    for p in landing.rglob("*"):
        if p != fresh:
            os.utime(p, (old, old))
    arrivals = scan(landing, settle_s=5)
    assert len(arrivals) == 1
    [arrival] = arrivals
    assert arrival.sha256 == hashlib.sha256(a.read_bytes()).hexdigest()
    assert arrival.group == "customer_activity" and len(arrival.paths) == 2
    assert arrival.resource()["prefect.resource.id"] == f"driftline.file.{arrival.sha256}"
    assert arrival.payload() == {"paths": list(arrival.paths), "group": "customer_activity",
                                 "sha256": arrival.sha256}
    assert {x.group for x in scan(landing, settle_s=0)} == {"customer_activity", "customer_billing"}


def test_each_content_is_announced_once_across_restarts(tmp_path):
    landing, state = tmp_path / "landing", tmp_path / "state"
    state.mkdir()
    server = FlakyServer()
    _drop(landing, "g", "one.csv", b"1")
    assert len(announce_pending(landing, state, server)) == 1
    assert announce_pending(landing, state, server) == []
    _drop(landing, "g", "again.csv", b"1")       # same bytes under another name: not new
    _drop(landing, "g", "two.csv", b"2")
    assert [a.sha256 for a in announce_pending(landing, state, server)] == [hashlib.sha256(b"2").hexdigest()]
    assert len(server.delivered) == 2
    assert sorted(WatchState.load(state).announced) == sorted(a.sha256 for a in server.delivered)


def test_a_failed_emission_is_not_recorded_and_is_sent_later(tmp_path):
    landing, state = tmp_path / "landing", tmp_path / "state"
    state.mkdir()
    server = FlakyServer()
    _drop(landing, "g", "one.csv", b"1")
    server.down = True
    with pytest.raises(EmitFailed):
        announce_pending(landing, state, server)
    assert WatchState.load(state).announced == {}
    server.down = False
    assert len(announce_pending(landing, state, server)) == 1


def test_watch_backs_off_exponentially_and_loses_no_arrival(tmp_path):
    landing, state = tmp_path / "landing", tmp_path / "state"
    state.mkdir()
    server = FlakyServer()
    server.down = True
    _drop(landing, "g", "before.csv", b"before")
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:                      # a file arrives while the server is down
            _drop(landing, "g", "during.csv", b"during")
        if len(delays) == 4:
            server.down = False

    announced = watch(landing, state, emit=server, once=True, settle_s=0, sleep=sleep,
                      backoff=Backoff(initial=1, factor=2, cap=5), report=lambda _: None)
    assert delays == [1, 2, 4, 5]
    assert sorted(a.paths[0].rsplit("/", 1)[1] for a in announced) == ["before.csv", "during.csv"]
    assert len(server.delivered) == 2


def test_watch_once_gives_up_after_max_failures_and_keeps_the_arrival_pending(tmp_path):
    landing, state = tmp_path / "landing", tmp_path / "state"
    state.mkdir()
    server = FlakyServer()
    server.down = True
    _drop(landing, "g", "one.csv", b"1")
    with pytest.raises(EmitFailed):
        watch(landing, state, emit=server, once=True, settle_s=0, max_failures=3,
              sleep=lambda s: None, report=lambda _: None)
    assert WatchState.load(state).pending(scan(landing)) != []


def test_the_prefect_emitter_detects_an_unreachable_server(tmp_path, monkeypatch):
    # Nothing listens on port 9 of loopback: the events client must raise, not drop the event.
    from flows.watch import prefect_emitter

    from prefect.settings import PREFECT_API_URL, temporary_settings

    arrival = Arrival("ab" * 32, "g", (str(tmp_path / "g" / "x.csv"),))
    # Settings, not the environment: a session-wide test harness may already pin the API URL.
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        with pytest.raises(EmitFailed, match="could not announce"):
            prefect_emitter(arrival)


def test_baseline_adopts_existing_drops_without_emitting(tmp_path):
    landing, state = tmp_path / "landing", tmp_path / "state"
    state.mkdir()
    server = FlakyServer()
    _drop(landing, "g", "old.csv", b"old")
    assert len(baseline(landing, state)) == 1
    _drop(landing, "g", "new.csv", b"new")
    assert [a.paths[0].rsplit("/", 1)[1] for a in announce_pending(landing, state, server)] == ["new.csv"]
    assert len(server.delivered) == 1


def test_scan_never_follows_a_link_or_blocks_on_a_fifo(tmp_path, monkeypatch):
    """A link to a secret is not hashed (its digest would leave in an event) and a FIFO is not opened
    for reading (the watcher would block forever); both are left for ingestion to refuse by name.
    The link is swapped in after listing, as a writer racing the watcher could."""
    import flows.watch as watch_module

    landing = tmp_path / "landing"
    secret = tmp_path / "passphrase"
    secret.write_bytes(b"s3cret")
    real = _drop(landing, "customer_activity", "day1.csv", b"id,x\n1,2\n")
    racy = _drop(landing, "customer_activity", "day2.csv", b"id,x\n3,4\n")
    os.mkfifo(landing / "customer_activity" / "pipe.csv")
    listed = watch_module.drop_files(landing) + [landing / "customer_activity" / "pipe.csv"]
    racy.unlink()
    racy.symlink_to(secret)
    monkeypatch.setattr(watch_module, "drop_files", lambda _landing: listed)
    arrivals = scan(landing)
    assert [a.sha256 for a in arrivals] == [hashlib.sha256(real.read_bytes()).hexdigest()]
    assert hashlib.sha256(b"s3cret").hexdigest() not in {a.sha256 for a in arrivals}
