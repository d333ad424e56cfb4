"""One open SQL database and its stores, whatever the engine (see polyrelay.storage.dialect).

SQLite: one connection per process, shared by every store and guarded by one lock. Calls
come from the event loop thread, the writer threads of responses and usage, and the CLI;
each is a single indexed statement or a short transaction on a local file, so the event
loop calls the stores directly.

PostgreSQL: each thread has its own connection (PostgresConnection), so no store call
waits for another thread's transaction, and the event loop hands its store calls to a few
threads of their own (`call`): a round trip to a server, or a row lock another replica
holds, must not stop every request of the process.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from polyrelay.storage.batches import SqlBatchStore
from polyrelay.storage.dialect import ConnectionLock, Dialect, SqlConnection
from polyrelay.storage.keys import SqlKeyStore
from polyrelay.storage.response_events import SqlResponseEventLog
from polyrelay.storage.responses import SqlResponseStore
from polyrelay.storage.tasks import SqlTaskStore
from polyrelay.storage.usage import SqlUsageStore

__all__ = ["STORE_CALL_THREADS", "SqlDatabase"]

P = ParamSpec("P")
T = TypeVar("T")

STORE_CALL_THREADS = 4
"""PostgreSQL: the threads (and so connections) that run the event loop's store calls."""


class SqlDatabase:
    """The stores on one connection; the engine's subclass opens it."""

    def __init__(
        self,
        conn: SqlConnection,
        clock: Callable[[], float],
        dialect: Dialect,
        *,
        lock: ConnectionLock | None = None,
        off_loop: bool = False,
    ) -> None:
        """`lock`: held around each use of `conn` (a new lock when None); `off_loop`:
        whether `call` runs store calls on threads of their own."""
        self._conn = conn
        lock = threading.Lock() if lock is None else lock
        self._keys = SqlKeyStore(conn, lock, clock)
        self._responses = SqlResponseStore(conn, lock, dialect)
        self._response_events = SqlResponseEventLog(conn, lock, dialect)
        self._batches = SqlBatchStore(conn, lock)
        self._tasks = SqlTaskStore(conn, lock, clock, dialect)
        self._usage = SqlUsageStore(conn, lock, dialect)
        self._calls = (
            ThreadPoolExecutor(STORE_CALL_THREADS, thread_name_prefix="polyrelay-store")
            if off_loop
            else None
        )

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`, a store call made from the event loop: at once on SQLite,
        on a store-call thread on PostgreSQL. A caller cancelled meanwhile leaves the call
        to finish on its thread (a write is not cut in half)."""
        if self._calls is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._calls, functools.partial(fn, *args, **kwargs))

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
        if self._calls is not None:
            self._calls.shutdown(wait=True)
        self._usage.flush()
        self._responses.flush()
        self._conn.close()
