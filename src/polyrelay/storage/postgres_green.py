"""PostgreSQL store calls on the event loop without blocking it, and without threads.

The stores are synchronous code (one SQL text for SQLite and PostgreSQL). On PostgreSQL a
store call made from the event loop (`Database.call`) runs in a greenlet on the loop's
own thread, with an async psycopg connection of its own: each time the store's code
reaches the network (`execute`, a fetch, a COPY row), `await_only` switches back to the
coroutine that drives the greenlet, which awaits psycopg's coroutine while the loop
serves everything else, then switches back in with the result. This is how SQLAlchemy
runs its synchronous ORM on asyncio drivers.

Threads were the first way (a pool of 4): each call's hand-off to a thread and back cost
about 0.2 ms of CPU per request of a key with limits on the benchmark's machine, for the
GIL and the wake-ups, more than the call itself; a greenlet switch costs about a
microsecond.

`GreenConnection` and `GreenCursor` give the stores (and postgres_copy) the part of
psycopg's synchronous API they use, over the async connection.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import greenlet

__all__ = ["GreenConnection", "LoopConnections", "await_only", "current_connection", "hold"]

P = ParamSpec("P")
T = TypeVar("T")

_LOCK_POLL_SECONDS = 0.001


class _StoreCall(greenlet.greenlet):
    def __init__(
        self, fn: Callable[..., Any], driver: greenlet.greenlet, connection: GreenConnection
    ) -> None:
        super().__init__(fn, driver)
        self.driver = driver
        self.connection = connection


class hold:  # a context manager, named as the statement reads: `with hold(lock):`
    """`with lock:` that, inside a store call on the event loop, waits for the lock without
    blocking the loop's thread: another store call on the same thread may hold it across a
    round trip (a blocking wait would never end), or a writer thread for a transaction."""

    __slots__ = ("_lock",)

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        lock = self._lock
        if lock.acquire(blocking=False):
            return
        if isinstance(greenlet.getcurrent(), _StoreCall):
            while not lock.acquire(blocking=False):
                await_only(asyncio.sleep(_LOCK_POLL_SECONDS))
        else:
            lock.acquire()

    def __exit__(self, *_: object) -> None:
        self._lock.release()


def current_connection() -> GreenConnection | None:
    """The connection of the store call running in this greenlet, if one is."""
    current = greenlet.getcurrent()
    return current.connection if isinstance(current, _StoreCall) else None


def await_only(awaitable: Awaitable[T]) -> T:
    """The result of `awaitable`, awaited by the coroutine that drives this store call."""
    current = greenlet.getcurrent()
    if not isinstance(current, _StoreCall):
        raise RuntimeError("await_only outside a store call (Database.call)")
    result: T = current.driver.switch(awaitable)
    return result


async def _drive(
    connection: GreenConnection, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    call = _StoreCall(fn, greenlet.getcurrent(), connection)
    switched = call.switch(*args, **kwargs)
    while not call.dead:
        try:
            value = await switched
        except BaseException:  # into the store's code, where it rolls a transaction back
            switched = call.throw(*sys.exc_info())
        else:
            switched = call.switch(value)
    result: T = switched
    return result


class LoopConnections:
    """Up to `size` async connections for the store calls made on the event loop, one per
    call while it runs. Opened when a call first reaches the database, not before: a
    call that needs none (a stored response still in memory) is answered in an outage.
    A broken one, or one a call left inside a transaction, is closed; one found dead
    before a statement (postgres_rerun) is replaced there."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[Any] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in a greenlet with a connection of its own. A caller
        cancelled meanwhile cancels the call where it waits: its transaction, if any, is
        rolled back, and a connection left mid-statement is closed, never reused."""
        async with self._slots_of(asyncio.get_running_loop()):
            connection = GreenConnection(self._take(), self._connect)
            try:
                return await _drive(connection, fn, *args, **kwargs)
            finally:
                if connection.conn is not None:
                    self._give(connection.conn)

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            _finish(conn)

    def _slots_of(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        if self._slots is None or self._loop is not loop:
            # A new event loop (a test's asyncio.run): connections bound to the old go.
            for conn in self._idle:
                _finish(conn)
            self._idle.clear()
            self._slots, self._loop = asyncio.Semaphore(self._size), loop
        return self._slots

    def _take(self) -> Any:
        """An idle connection, or None: the call opens one if it reaches the database."""
        from polyrelay.storage.postgres import DatabaseClosed

        if self._closed:
            raise DatabaseClosed("the database is closed")
        while self._idle:
            conn = self._idle.pop()
            if not (conn.broken or conn.closed):
                return conn
        return None

    def _give(self, conn: Any) -> None:
        from psycopg.pq import TransactionStatus  # psycopg loads only with PostgreSQL

        idle = conn.info.transaction_status == TransactionStatus.IDLE
        if self._closed or conn.broken or conn.closed or not idle:
            _finish(conn)
        else:
            self._idle.append(conn)


def _finish(conn: Any) -> None:
    """Close without awaiting (also when no loop runs): libpq's own close."""
    if not conn.closed:
        conn.pgconn.finish()


class GreenConnection:
    """What the stores and postgres_copy use of a psycopg Connection, over an async one:
    the store call's, opened by `live` when the call first needs it."""

    def __init__(self, conn: Any | None, connect: Callable[[], Awaitable[Any]]) -> None:
        self._conn = conn
        self._connect = connect

    @property
    def conn(self) -> Any | None:
        """The async connection, None while the call has not needed one."""
        return self._conn

    def live(self) -> GreenConnection:
        """This, on a connection that can take a statement: opened now if the call had
        none, replaced if it is found dead (postgres_rerun.found_dead)."""
        from polyrelay.storage.postgres_rerun import found_dead  # psycopg: PostgreSQL only

        if self._conn is not None and found_dead(self._conn):
            _finish(self._conn)
            self._conn = None
        if self._conn is None:
            self._conn = await_only(self._connect())
        return self

    @property
    def info(self) -> Any:
        return self._opened().info

    @property
    def pgconn(self) -> Any:
        return self._opened().pgconn

    @property
    def broken(self) -> bool:
        return self._conn is not None and bool(self._conn.broken)

    def cursor(self) -> GreenCursor:
        return GreenCursor(self._opened().cursor())

    def _opened(self) -> Any:
        """The connection as it is, opened if the call had none (no check: `live`'s)."""
        return self._conn if self._conn is not None else self.live()._conn

    def execute(self, query: str, params: Any = None) -> GreenCursor:
        return self.cursor().execute(query, params)


class GreenCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def execute(self, query: str, params: Any = None) -> GreenCursor:
        await_only(self._cursor.execute(query, params))
        return self

    def executemany(self, query: str, params_seq: Iterable[Any]) -> None:
        await_only(self._cursor.executemany(query, params_seq))

    def fetchone(self) -> Any:
        return await_only(self._cursor.fetchone())

    def fetchall(self) -> list[Any]:
        rows: list[Any] = await_only(self._cursor.fetchall())
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    def copy(self, statement: str) -> _GreenCopy:
        return _GreenCopy(self._cursor.copy(statement))


class _GreenCopy:
    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._copy: Any = None

    def __enter__(self) -> _GreenCopy:
        self._copy = await_only(self._manager.__aenter__())
        return self

    def write_row(self, row: Any) -> None:
        await_only(self._copy.write_row(row))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await_only(self._manager.__aexit__(kind, error, trace))
