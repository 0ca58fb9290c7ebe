"""The landing watcher: announce every new drop under ``landing/<group>/`` exactly once.

A drop is known by the sha256 of its bytes. :func:`scan` lists what is in landing now (files
still being written, hidden or temporary files are left for a later scan); :class:`WatchState`
remembers, under the data home's ``state/``, every digest already announced, so a file is never
announced twice, across restarts too. :func:`announce_pending` emits ``driftline.data.arrived``
(resource ``driftline.file.<sha256>``, payload ``paths``, ``group``, ``sha256``) for each new
digest and records it only once the emission is confirmed; when the server is down the emission
fails, the digest stays pending, and :func:`watch` retries with exponential backoff, announcing
everything that arrived meanwhile once the server is back: no arrival is lost. Delivery is
confirmed by Prefect's events client itself (``await client.emit``), which raises when the server
cannot be reached, unlike the fire-and-forget ``emit_event``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from driftline.atomic import fault_point, write_atomic
from driftline.clock import now_text
from driftline.home import drop_files
from driftline.errors import DriftlineError, LockTimeout
from features.drop_guard import drop_digest
from flows.triggers import DATA_ARRIVED

STATE_FILE = "watch.json"
_EVENT_NAMESPACE = uuid.UUID("6f1c9d1e-5b7a-4b0e-9a55-5d1f0c3e7a21")


class EmitFailed(DriftlineError):
    """An event could not be delivered to the Prefect server (it stays pending)."""


@dataclass(frozen=True)
class Arrival:
    """One new drop content: its digest, its group and every landing path holding those bytes."""

    sha256: str
    group: str
    paths: tuple[str, ...]

    def resource(self) -> dict[str, str]:
        return {"prefect.resource.id": f"driftline.file.{self.sha256}",
                "prefect.resource.name": Path(self.paths[0]).name, "driftline.group": self.group,
                "driftline.origin": "watcher"}

    def payload(self) -> dict[str, object]:
        return {"paths": list(self.paths), "group": self.group, "sha256": self.sha256}

    def event_id(self) -> uuid.UUID:
        # Derived from the digest: a re-sent announcement carries the same id, so the server
        # can recognise it as the same event.
        return uuid.uuid5(_EVENT_NAMESPACE, self.sha256)


def _candidates(landing: Path, settle_s: float, now: float) -> Iterator[tuple[str, Path]]:
    for path in drop_files(landing):
        # A file modified moments ago may still be being written: wait for it to settle.
        if now - path.stat().st_mtime >= settle_s:
            yield path.parent.name, path


def scan(landing: Path, *, settle_s: float = 0.0, now: float | None = None) -> list[Arrival]:
    """Every settled drop under ``landing/<group>/``, one :class:`Arrival` per distinct content."""
    if not landing.is_dir():
        return []
    found: dict[str, tuple[str, list[str]]] = {}
    for group, path in _candidates(landing, settle_s, time.time() if now is None else now):
        # None: moved away between listing and reading (ingested, or by its writer), or replaced
        # by a link or a FIFO, which is never read.
        if (digest := drop_digest(path, landing)) is None:
            continue
        found.setdefault(digest, (group, []))[1].append(str(path.resolve()))
    return [Arrival(sha, group, tuple(paths)) for sha, (group, paths) in found.items()]


@dataclass
class WatchState:
    """The digests already announced, kept in ``state/watch.json`` (written atomically)."""

    path: Path
    announced: dict[str, dict[str, object]]

    @classmethod
    def load(cls, state_dir: Path) -> "WatchState":
        path = Path(state_dir) / STATE_FILE
        if not path.exists():
            return cls(path, {})
        return cls(path, dict(json.loads(path.read_text(encoding="utf-8")).get("announced", {})))

    def pending(self, arrivals: list[Arrival]) -> list[Arrival]:
        return [a for a in arrivals if a.sha256 not in self.announced]

    def record(self, arrival: Arrival) -> None:
        self.announced[arrival.sha256] = {"group": arrival.group, "paths": list(arrival.paths),
                                          "at": now_text()}
        body = json.dumps({"announced": self.announced}, indent=1, sort_keys=True).encode()
        write_atomic(self.path, body)


Emitter = Callable[[Arrival], None]


def prefect_emitter(arrival: Arrival) -> None:
    """Send the announcement to the Prefect server and wait until the client has sent it."""
    from prefect.events import Event
    from prefect.events.clients import get_events_client

    event = Event(id=arrival.event_id(), event=DATA_ARRIVED, resource=arrival.resource(),
                  payload=arrival.payload(), occurred=datetime.now(timezone.utc))

    async def send() -> None:
        # No reconnection attempts inside the client: the watcher's own backoff retries.
        async with get_events_client(reconnection_attempts=0) as client:
            await client.emit(event)

    try:
        asyncio.run(send())
    except Exception as exc:  # any transport failure means: not delivered, keep it pending
        raise EmitFailed(f"could not announce {arrival.paths[0]} to the Prefect server: "
                         f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc


def announce_pending(landing: Path, state_dir: Path, emit: Emitter, *, settle_s: float = 0.0) -> list[Arrival]:
    """Announce every new drop; return those announced. Raises :class:`EmitFailed` at the first
    failure, having recorded the ones delivered before it (the rest stay pending)."""
    lock = FileLock(str(Path(state_dir) / "watch.lock"))
    try:
        lock.acquire(timeout=30)
    except Timeout as exc:
        raise LockTimeout(f"another watcher holds {lock.lock_file}",
                          hint="run one watcher per data home") from exc
    try:
        state = WatchState.load(state_dir)
        done: list[Arrival] = []
        for arrival in state.pending(scan(landing, settle_s=settle_s)):
            emit(arrival)
            # A kill here announces the drop again on restart (at least once), with the same
            # event id (Arrival.event_id), never zero times.
            fault_point("watch.emitted")
            state.record(arrival)
            fault_point("watch.recorded")
            done.append(arrival)
        return done
    finally:
        lock.release()


def baseline(landing: Path, state_dir: Path) -> list[Arrival]:
    """Record every drop now in landing as announced, without emitting: for starting a watcher on
    a data home whose drops were already ingested some other way (``python -m flows ingest``)."""
    return announce_pending(landing, state_dir, lambda arrival: None)


@dataclass
class Backoff:
    """Exponential backoff: ``initial * factor**n`` seconds, capped; reset after a success."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.initial * self.factor ** self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


def watch(landing: Path, state_dir: Path, *, emit: Emitter = prefect_emitter, interval: float = 5.0,
          once: bool = False, settle_s: float = 2.0, max_failures: int | None = None,
          backoff: Backoff | None = None, sleep: Callable[[float], None] = time.sleep,
          report: Callable[[str], None] = print) -> list[Arrival]:
    """Announce new drops every ``interval`` seconds (or until all are announced, with ``once``).

    While the server is unreachable, retry with exponential backoff; ``max_failures`` bounds the
    retries in a row (then :class:`EmitFailed` propagates; nothing is lost, the next run resumes).
    """
    backoff = backoff or Backoff()
    announced: list[Arrival] = []
    while True:
        try:
            done = announce_pending(landing, state_dir, emit, settle_s=settle_s)
        except EmitFailed as exc:
            if max_failures is not None and backoff.failures + 1 >= max_failures:
                raise
            delay = backoff.next_delay()
            report(f"{exc}; retrying in {delay:.0f} s")
            sleep(delay)
            continue
        backoff.reset()
        for a in done:
            report(f"announced {a.group}/{Path(a.paths[0]).name} (sha256 {a.sha256[:12]})")
        announced.extend(done)
        if once:
            return announced
        sleep(interval)
