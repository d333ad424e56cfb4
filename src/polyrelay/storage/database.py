"""One open SQL database and its stores, whatever the engine (see polyrelay.storage.dialect).

SQLite: one connection per process, shared by every store and guarded by one lock. Calls
come from the event loop thread, the writer threads of responses and usage, and the CLI;
each is a single indexed statement or a short transaction on a local file, so the event
loop makes its store calls at once (`call`).

PostgreSQL: the event loop's store calls run in greenlets on async connections of their
own, so a round trip, or a row lock another replica holds, never stops the other requests
of the process; every other thread has its own connection (PostgresConnection).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from polyrelay.storage import StoreCall, call_at_once
from polyrelay.storage.batches import SqlBatchStore
from polyrelay.storage.dialect import ConnectionLock, Dialect, SqlConnection
from polyrelay.storage.keys import SqlKeyStore
from polyrelay.storage.response_events import RecordedEvent, SqlResponseEventLog
from polyrelay.storage.responses import SqlResponseStore, StoredResponse
from polyrelay.storage.submission import commit_submission
from polyrelay.storage.tasks import SqlTaskStore
from polyrelay.storage.unreachable import database_unreachable
from polyrelay.storage.usage import SqlUsageStore
from polyrelay.tasks.model import NewTask

__all__ = ["SqlDatabase"]

P = ParamSpec("P")
T = TypeVar("T")


class SqlDatabase:
    """The stores on one connection; the engine's subclass opens it."""

    def __init__(
        self,
        conn: SqlConnection,
        clock: Callable[[], float],
        dialect: Dialect,
        *,
        lock: ConnectionLock | None = None,
        call: StoreCall = call_at_once,
    ) -> None:
        """`lock`: held around each use of `conn` (a new lock when None); `call`: how the
        event loop makes a store call."""
        self._conn = conn
        self._lock = lock = threading.Lock() if lock is None else lock
        self._keys = SqlKeyStore(conn, lock, clock)
        self._responses = SqlResponseStore(conn, lock, dialect)
        self._response_events = SqlResponseEventLog(conn, lock, dialect)
        self._batches = SqlBatchStore(conn, lock)
        self._tasks = SqlTaskStore(conn, lock, clock, dialect)
        self._usage = SqlUsageStore(conn, lock, dialect)
        self._call = call

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`, a store call made from the event loop."""
        return await self._call(fn, *args, **kwargs)

    async def call_off_loop(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A long store call (a Message Batch's insert), made from the event loop. Here it
        is `call`: the engine's subclass runs it elsewhere when `call` would block."""
        return await self.call(fn, *args, **kwargs)

    def submit_background(
        self, response: StoredResponse, events: list[RecordedEvent], task: NewTask
    ) -> None:
        """A background response's submission, in one transaction (see
        polyrelay.storage.submission)."""
        commit_submission(self._conn, self._lock, response, events, task)

    @property
    def keys(self) -> SqlKeyStore:
        return self._keys

    @property
    def responses(self) -> SqlResponseStore:
        return self._responses

    @property
    def batches(self) -> SqlBatchStore:
        return self._batches

    @property
    def response_events(self) -> SqlResponseEventLog:
        return self._response_events

    @property
    def tasks(self) -> SqlTaskStore:
        return self._tasks

    @property
    def usage(self) -> SqlUsageStore:
        return self._usage

    def close(self) -> None:
        """Commit the parked records, then close the connection whatever that met. An
        unreachable database is not raised: the flushes logged what it loses."""
        try:
            self._usage.flush()
            self._responses.flush()
        except Exception as exc:
            if not database_unreachable(exc):
                raise
        finally:
            self._conn.close()
