"""Group commit: a writer thread for stores written once per request on the event loop.

The store parks its rows in memory under `GroupCommit.lock` and calls `wake()`; the writer
thread waits until rows are parked, lets a batch gather for `gather_seconds`, then calls
the store's `flush()`, which commits the batch in one transaction. One transaction per
batch instead of one per request keeps SQLite (and GIL handoffs) off the hot path.

`interval_seconds` spaces the commits of a busy store: a batch starts at least that long
after the previous one started. Every commit takes and gives back the GIL several times,
and each time the event loop holds it, the writer waits and then forces a switch; that
cost is per commit, not per row. With multi-row INSERTs (sqlite_bulk) and a 50 ms
interval, the event loop thread's context switches per stored response fell from 0.21 to
0.07 at 16 connections (bench/README.md). A lone row still waits only `gather_seconds`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["GroupCommit"]


class GroupCommit:
    def __init__(
        self,
        name: str,
        gather_seconds: float,
        *,
        interval_seconds: float = 0.0,
        has_pending: Callable[[], bool],
        flush: Callable[[], None],
        discard: Callable[[], None],
        closed_errors: tuple[type[BaseException], ...],
    ) -> None:
        """`has_pending` and `discard` run with `lock` held; `flush` takes it itself."""
        self.lock = threading.Condition(threading.Lock())
        self._name = name
        self._gather = gather_seconds
        self._interval = interval_seconds
        self._has_pending = has_pending
        self._flush = flush
        self._discard = discard
        self._closed_errors = closed_errors
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Call with `lock` held, after parking a row; starts the writer on first use."""
        self.lock.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        started = float("-inf")
        while True:
            with self.lock:
                while not self._has_pending():
                    self.lock.wait()
            wait = max(self._gather, started + self._interval - time.monotonic())
            time.sleep(wait)  # noqa: TID251  (the writer thread: a batch gathers)
            started = time.monotonic()
            try:
                self._flush()
            except self._closed_errors:  # the database was closed under us
                with self.lock:
                    self._discard()
