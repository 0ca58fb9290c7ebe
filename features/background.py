"""Two small tools that let ingestion use a second core: reading ahead and writing behind.

Polars, hashlib and Parquet writing release the GIL while they work, so a thread that reads the
next batch of a drop (:func:`read_ahead`) or writes the last staged file (:class:`WriteBehind`)
runs beside the validation of the current batch. Both keep at most a fixed number of items in
flight, so memory stays bounded, and both hand an exception raised in their thread to the caller,
at the point where the caller asks for that item.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order while a thread already produces up to ``depth`` of the next ones.

    The source iterator only ever runs in that one thread, one step at a time; when the consumer
    stops early (an exception, or ``close()``), the steps in flight finish and the source is closed.
    """
    source = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        ahead: deque[Future[object]] = deque(pool.submit(next, source, _END) for _ in range(max(depth, 1)))
        try:
            while True:
                item = ahead.popleft().result()
                if item is _END:
                    return
                ahead.append(pool.submit(next, source, _END))
                yield item  # type: ignore[misc]
        finally:
            for step in ahead:
                step.cancel()
            pool.shutdown(wait=True)
            close = getattr(source, "close", None)
            if close is not None:
                close()


class WriteBehind:
    """Run write jobs in one background thread, at most ``depth`` queued or running at a time.

    ``submit`` blocks while ``depth`` jobs are pending (so at most that many staged frames are held
    in memory); ``wait`` returns once every job is done and re-raises the first failure.
    """

    def __init__(self, depth: int = 1) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="write-behind")
        self._pending: deque[Future[object]] = deque()
        self._depth = max(depth, 1)

    def submit(self, job: Callable[[], object]) -> None:
        """Queue ``job`` (its return value is dropped), once fewer than ``depth`` are pending."""
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(job))

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for the jobs (their errors are not raised here) and stop the thread."""
        self._pool.shutdown(wait=True)
        self._pending.clear()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
