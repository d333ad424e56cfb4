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

The client already has its answer when its row is parked, so a batch the database cannot
take because it is unreachable (storage/unreachable.py) stays parked and the writer tries again,
0.5 s after the failure and then twice as long each time up to 5 s, until it is written:
an outage is logged when it starts and when writing resumes. A record the database
refuses on its own merits (a data error) is logged and dropped by `write`, so one bad
record cannot hold back the others forever. At most `cap` records wait: past it the
store drops the oldest (`overflow`). All of this is on the writer's failure path; a
put pays one comparison with the cap.

A flush that meets an unreachable database tries again at once only when the connection
was lost (a PostgreSQL restart broke it; the pool has a new one by then). A SQLite BUSY
or LOCKED is not retried at once: that try already waited busy_timeout holding the
connection lock every store shares, and the event loop's store calls would wait twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, TypeVar

from polyrelay.backoff import Backoff
from polyrelay.errors import first_line
from polyrelay.storage.unreachable import connection_lost, database_unreachable

__all__ = ["PARKED_CAP", "GroupCommit"]

T = TypeVar("T")

PARKED_CAP = 100_000
"""The most records a store keeps waiting for an unreachable database (a store may set its
own): a usage row is ≈ 0.3 KiB in memory (tracemalloc), so ≈ 30 MiB, and ~2 minutes of a
replica serving 1,000 requests a second."""

_log = logging.getLogger("polyrelay.storage")


class GroupCommit:
    def __init__(
        self,
        name: str,
        gather_seconds: float,
        *,
        interval_seconds: float = 0.0,
        pending_count: Callable[[], int],
        flush: Callable[[], None],
        discard: Callable[[], None],
        closed_errors: tuple[type[BaseException], ...],
        drop_oldest: Callable[[int], None] | None = None,
        cap: int = PARKED_CAP,
        what: str = "records",
        log: logging.Logger = _log,
    ) -> None:
        """`pending_count` (how many records are parked), `discard` and `drop_oldest(n)`
        run with `lock` held; `flush` takes it itself. At most `cap` records wait (the
        store compares, `overflow` drops). `what` names the records in logs."""
        self.lock = threading.Condition(threading.Lock())
        self.cap = cap
        self._name = name
        self._gather = gather_seconds
        self._interval = interval_seconds
        self._pending_count = pending_count
        self._flush = flush
        self._discard = discard
        self._closed_errors = closed_errors
        self._drop_oldest = drop_oldest
        self._what = what
        self._log = log
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Call with `lock` held, after parking a row; starts the writer on first use."""
        self.lock.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def overflow(self) -> None:
        """Call with `lock` held when more than `cap` records are parked: drops the oldest,
        a tenth of the cap more than needed, so that a long outage logs a line per tenth
        lost, not one per record."""
        lost = self._pending_count() - self.cap + max(1, self.cap // 10)
        if self._drop_oldest is not None:
            self._drop_oldest(lost)
        # Whether the database is down or only slower than records come, this cannot tell.
        self._log.error(
            "%s: more than %d %s wait to be written (the database is unreachable or slower"
            " than they come): the oldest %d are lost",
            self._name,
            self.cap,
            self._what,
            lost,
        )

    def write(
        self,
        batch: list[T],
        transaction: Callable[[list[T]], None],
        rejected: Callable[[T], None],
    ) -> None:
        """`transaction(batch)`; when that fails on the data, each record in a transaction
        of its own, and `rejected(record)` (inside the `except`, to log it) for each one
        the database refuses. A closed or unreachable database raises, and then `batch`
        keeps only the records not committed yet."""
        try:
            transaction(batch)
            return
        except Exception as exc:
            if isinstance(exc, self._closed_errors) or database_unreachable(exc):
                raise
        for done, record in enumerate(batch):
            try:
                transaction([record])
            except Exception as exc:
                if isinstance(exc, self._closed_errors) or database_unreachable(exc):
                    del batch[:done]
                    raise
                rejected(record)

    def flush_now(self) -> None:
        """The store's flush, on the calling thread; when the connection was lost, once
        more at once, since a connection a server restart broke is replaced by then."""
        try:
            self._flush()
        except Exception as exc:
            if isinstance(exc, self._closed_errors) or not connection_lost(exc):
                raise
            self._flush()

    def flush(self, *, raise_unreachable: bool) -> None:
        """The store's `flush()`: commit every parked record now, on the calling thread.
        When the database is unreachable the records stay parked for the writer, how many
        is logged (what a shutdown that ends now loses), and the error is raised only when
        `raise_unreachable`. Any other error is raised."""
        try:
            self.flush_now()
        except Exception as exc:
            if isinstance(exc, self._closed_errors) or not database_unreachable(exc):
                raise
            self._report_unwritten(exc)
            if raise_unreachable:
                raise

    def _report_unwritten(self, exc: BaseException) -> None:
        """A flush outside the writer thread (shutdown's among them) met an unreachable
        database: say how many records are lost if the process ends before it is back."""
        with self.lock:
            waiting = self._pending_count()
        self._log.error(
            "%s: the database is unreachable (%s): %d %s wait in memory for it and are"
            " lost if the process ends first",
            self._name,
            first_line(exc),
            waiting,
            self._what,
        )

    def _run(self) -> None:
        started = float("-inf")
        down_since: float | None = None  # the outage the writer is in
        backoff = Backoff()
        retry = 0.0  # the pause before the next try, in an outage
        waiting = 0
        while True:
            with self.lock:
                while not self._pending_count():
                    self.lock.wait()
            wait = max(self._gather, started + self._interval - time.monotonic(), retry)
            time.sleep(wait)  # noqa: TID251  (the writer thread: a batch gathers)
            if down_since is not None:
                with self.lock:
                    waiting = self._pending_count()
            started = time.monotonic()
            # In an outage the next try is the retry: no second one at once.
            outcome = self._attempt(at_once=down_since is None)
            if isinstance(outcome, BaseException):
                if down_since is None:
                    down_since = started
                    self._outage(outcome)
                retry = backoff.take()
            elif down_since is not None:
                if outcome == "written":
                    self._log.warning(
                        "%s: writing resumed after %.1f s; %d %s that waited are written",
                        self._name,
                        time.monotonic() - down_since,
                        waiting,
                        self._what,
                    )
                else:
                    self._log.error(
                        "%s: the database was closed before it was back; %d %s that"
                        " waited are dropped",
                        self._name,
                        waiting,
                        self._what,
                    )
                down_since, retry = None, 0.0
                backoff.reset()

    def _attempt(self, *, at_once: bool) -> BaseException | Literal["written", "discarded"]:
        """A flush: the error when the database is unreachable, "discarded" when it was
        closed (the parked records go), "written" when it is done."""
        try:
            if at_once:
                self.flush_now()
            else:
                self._flush()
        except self._closed_errors:  # the database was closed under us
            with self.lock:
                self._discard()
            return "discarded"
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            return exc
        return "written"

    def _outage(self, exc: BaseException) -> None:
        with self.lock:
            waiting = self._pending_count()
        self._log.error(
            "%s: the database is unreachable (%s): %d %s wait in memory (at most %d) and"
            " are written when it is back",
            self._name,
            first_line(exc),
            waiting,
            self._what,
            self.cap,
        )
