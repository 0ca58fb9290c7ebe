"""read_ahead and WriteBehind: order kept, errors surface where the caller asks, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from features.background import WriteBehind, read_ahead


def test_read_ahead_keeps_order_and_raises_at_the_failing_item() -> None:
    def source():
        yield from range(3)
        raise ValueError("broken at 3")

    got = []
    with pytest.raises(ValueError, match="broken at 3"):
        for item in read_ahead(source(), depth=2):
            got.append(item)
    assert got == [0, 1, 2]


def test_read_ahead_runs_the_source_in_one_other_thread_and_closes_it_when_stopped_early() -> None:
    threads, closed = set(), threading.Event()

    def source():
        try:
            for i in range(100):
                threads.add(threading.get_ident())
                yield i
        finally:
            closed.set()

    items = read_ahead(source(), depth=2)
    assert [next(items), next(items)] == [0, 1]
    items.close()
    assert closed.is_set() and len(threads) == 1 and threading.get_ident() not in threads


def test_write_behind_bounds_pending_jobs_and_reraises_a_failure() -> None:
    running, peak = [0], [0]
    lock = threading.Lock()

    def job() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    with WriteBehind(depth=1) as writer:
        for _ in range(5):
            writer.submit(job)
        writer.wait()
        assert peak[0] == 1
        writer.submit(lambda: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError, match="disk full"):
            writer.wait()
