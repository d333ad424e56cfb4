"""Group commit: a writer thread for stores written once per request on the event loop.

The store parks its rows in memory under `GroupCommit.lock` and calls `wake()`; the writer
thread waits until rows are parked, lets a batch gather for `gather_seconds`, then calls
the store's `flush()`, which commits the batch in one transaction. One transaction per
batch instead of one per request keeps SQLite (and GIL handoffs) off the hot path.
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
        has_pending: Callable[[], bool],
        flush: Callable[[], None],
        discard: Callable[[], None],
        closed_errors: tuple[type[BaseException], ...],
    ) -> None:
        """`has_pending` and `discard` run with `lock` held; `flush` takes it itself."""
        self.lock = threading.Condition(threading.Lock())
        self._name = name
        self._gather = gather_seconds
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
        while True:
            with self.lock:
                while not self._has_pending():
                    self.lock.wait()
            time.sleep(self._gather)  # noqa: TID251  (the writer thread: a batch gathers)
            try:
                self._flush()
            except self._closed_errors:  # the database was closed under us
                with self.lock:
                    self._discard()
