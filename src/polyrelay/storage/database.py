"""One open SQL database and its stores, whatever the engine (see polyrelay.storage.dialect).

One connection per process, shared by every store and guarded by a lock: calls come from
the event loop thread, the writer threads of responses and usage, and the CLI; each is a
single indexed statement or a short transaction, so a pool would only add cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from polyrelay.storage.batches import SqlBatchStore
from polyrelay.storage.dialect import Dialect, SqlConnection
from polyrelay.storage.keys import SqlKeyStore
from polyrelay.storage.response_events import SqlResponseEventLog
from polyrelay.storage.responses import SqlResponseStore
from polyrelay.storage.tasks import SqlTaskStore
from polyrelay.storage.usage import SqlUsageStore

__all__ = ["SqlDatabase"]


class SqlDatabase:
    """The stores on one connection; the engine's subclass opens it."""

    def __init__(self, conn: SqlConnection, clock: Callable[[], float], dialect: Dialect) -> None:
        self._conn = conn
        lock = threading.Lock()
        self._keys = SqlKeyStore(conn, lock, clock)
        self._responses = SqlResponseStore(conn, lock, dialect)
        self._response_events = SqlResponseEventLog(conn, lock, dialect)
        self._batches = SqlBatchStore(conn, lock)
        self._tasks = SqlTaskStore(conn, lock, clock, dialect)
        self._usage = SqlUsageStore(conn, lock, dialect)

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
        self._usage.flush()
        self._responses.flush()
        self._conn.close()
