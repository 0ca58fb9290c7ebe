"""The server's watcher: one background thread that notices a promotion, a rollback or an ingestion.

Every ``interval`` seconds it takes the ``stat`` of a few paths (each served model's signed
``aliases.json``, each feature group's ``_delta_log`` folder) and calls the path's callback when the
fingerprint (inode, size, modification time) changed since the last look. A stat is microseconds,
so polling costs nothing next to the work it triggers; the callback re-reads through the registry
or the store, which verify. Nothing on the request path waits for it. A callback that raises is
reported and the watch goes on: a watcher that dies would freeze the served versions silently.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Fingerprint = tuple[int, int, int] | None


def fingerprint(path: Path) -> Fingerprint:
    """(inode, size, mtime_ns) of ``path``, None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Watched:
    """A path and what to do when it changes."""

    path: Path
    on_change: Callable[[], object]


class Watcher:
    """Polls the fingerprints of ``watched`` in a daemon thread until :meth:`stop`."""

    def __init__(self, watched: Sequence[Watched], *, interval: float = 0.5,
                 report: Callable[[str], None] | None = None) -> None:
        self.watched = tuple(watched)
        self.interval = interval
        self._report = report or (lambda line: print(line, file=sys.stderr, flush=True))
        self._seen = [fingerprint(w.path) for w in self.watched]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftline-serve-watch", daemon=True)

    def start(self) -> "Watcher":
        if self.watched:
            self._thread.start()
        return self

    def poll(self) -> int:
        """One look at every path; the callbacks of those that changed run. Returns how many did."""
        changed = 0
        for i, watched in enumerate(self.watched):
            now = fingerprint(watched.path)
            if now == self._seen[i]:
                continue
            self._seen[i] = now
            changed += 1
            try:
                watched.on_change()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any one failure
                self._report(f"serve: reacting to a change of {watched.path} failed: {type(exc).__name__}: {exc}")
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
