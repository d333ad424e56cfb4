"""The PostgreSQL database (psycopg 3): several gateway replicas on one database.

The stores are the SQLite ones (polyrelay.storage.database): their SQL is written to run
on both, and `PostgresConnection` translates its placeholders (`?` and `:name` become
psycopg's `%s` and `%(name)s`) once per statement text. Everything the replicas share is
here: keys, stored responses and their events, tasks and their leases (claims pass each
other with `FOR UPDATE SKIP LOCKED`), batches, usage and per-key counters.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from polyrelay.storage import PoolMode, StorageError
from polyrelay.storage.database import SqlDatabase
from polyrelay.storage.dialect import Dialect, SqlCursor
from polyrelay.storage.migrations import migrate
from polyrelay.storage.postgres_copy import BulkInsert, bulk_insert_of, copy_rows
from polyrelay.storage.postgres_green import GreenConnection, LoopConnections, current_connection
from polyrelay.storage.postgres_rerun import found_dead, may_send_again, starts_fresh
from polyrelay.storage.postgres_schema import POSTGRES_MIGRATIONS

__all__ = ["POSTGRESQL", "DatabaseClosed", "PostgresConnection", "PostgresDatabase", "describe"]

_CONNECT_TIMEOUT_SECONDS = 10
_PREPARE_THRESHOLD = 5  # psycopg's default
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(1886350457)"
"""One process migrates at a time (the key spells "poly"); held to the end of each
migration's transaction, so it works through a pooler that pools per transaction."""
LOOP_CONNECTIONS = 4
"""Store calls on the event loop that run at once (each on a connection of its own)."""
_PLACEHOLDER = re.compile(r"\?|(?<![:\w]):([A-Za-z_]\w*)")

log = logging.getLogger("polyrelay.storage")


P = ParamSpec("P")
T = TypeVar("T")


class DatabaseClosed(Exception):
    """A store was called after the database was closed."""


POSTGRESQL = Dialect(
    skip_locked=" FOR UPDATE SKIP LOCKED",
    day_of_created_at="to_char(to_timestamp(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    closed_errors=(DatabaseClosed,),
    integrity_errors=(psycopg.IntegrityError,),
)


def translate(sql: str) -> str:
    """SQLite's placeholders as psycopg's (a literal `%` doubled)."""
    escaped = sql.replace("%", "%%")
    return _PLACEHOLDER.sub(
        lambda match: "%s" if match.group(0) == "?" else f"%({match.group(1)})s", escaped
    )


class PostgresConnection:
    """psycopg connections in autocommit mode, as the stores use SQLite's.

    A store call made on the event loop (`loop_call`) runs in a greenlet with an async
    connection of its own (polyrelay.storage.postgres_green), so it never blocks the loop.
    Any other thread that calls (the writer threads, the main thread at start-up and
    shutdown, the CLI) has a synchronous connection of its own, opened on its first call.
    No caller's statements, and so no transaction, ever wait for another's in this process.
    A connection the server ended (it restarted) is replaced before a statement is sent on
    it, and a read or a BEGIN that met the break is sent once more on a fresh one
    (polyrelay.storage.postgres_rerun); any other statement that met it fails, since it may
    have been committed, or its transaction is gone."""

    def __init__(self, conninfo: str, *, prepare: bool = True) -> None:
        """`prepare`: whether psycopg may prepare a statement on the server once it has run
        it five times; not through a pooler that pools per transaction, where the next
        transaction may run on a server connection that has not seen it."""
        self._conninfo = conninfo
        self._prepare_threshold = _PREPARE_THRESHOLD if prepare else None
        self._loop_connections = LoopConnections(self._connect_async, LOOP_CONNECTIONS)
        self._texts: dict[str, str] = {}
        self._bulk: dict[str, BulkInsert | None] = {}
        self._local = threading.local()
        self._open: list[psycopg.Connection[Any]] = []
        self._guard = threading.Lock()
        self._closed = False
        self._live()  # a bad URL or a server that is down fails the open, not a request

    async def loop_call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`, a store call made on the event loop, without blocking it."""
        return await self._loop_connections.run(fn, *args, **kwargs)

    def execute(self, sql: str, parameters: Any = (), /) -> SqlCursor:
        text = self._text(sql)
        conn = self._connection()
        fresh = starts_fresh(conn)
        try:
            return conn.execute(text, parameters)
        except psycopg.OperationalError as exc:
            if not may_send_again(text, started_fresh=fresh, broken=conn.broken):
                raise
            log.info("PostgreSQL connection lost (%s); sent again on a new one", exc)
        return self._connection().execute(text, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> SqlCursor:
        if sql not in self._bulk:
            self._bulk[sql] = bulk_insert_of(sql, translate)
        plan = self._bulk[sql]
        conn: Any = self._connection()
        if plan is not None:
            return copy_rows(conn, plan, parameters)
        cursor = conn.cursor()
        cursor.executemany(self._text(sql), parameters)
        return cursor  # type: ignore[no-any-return]

    @property
    def open_connections(self) -> int:
        """How many synchronous connections this process holds: one per thread that called
        (the event loop's store calls have theirs apart, in LoopConnections)."""
        with self._guard:
            return len(self._open)

    def close(self) -> None:
        self._loop_connections.close()
        with self._guard:
            self._closed = True
            connections, self._open = self._open, []
        for conn in connections:
            conn.close()

    async def _connect_async(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            prepare_threshold=self._prepare_threshold,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        )

    def _connection(self) -> psycopg.Connection[Any] | GreenConnection:
        """The caller's connection, able to take a statement: the store call's on the
        event loop (GreenConnection), else the thread's."""
        green = current_connection()
        return green.live() if green is not None else self._live()

    def _text(self, sql: str) -> str:
        text = self._texts.get(sql)
        if text is None:
            # Bounded: statement texts are the stores' constants and their few variants.
            text = self._texts[sql] = "BEGIN" if sql == "BEGIN IMMEDIATE" else translate(sql)
        return text

    def _live(self) -> psycopg.Connection[Any]:
        self._check_open()
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and not found_dead(held.conn):
            return held.conn
        fresh = _connect(self._conninfo, self._prepare_threshold)
        with self._guard:
            accepted = not self._closed
            if accepted:
                self._open.append(fresh)
        if not accepted:  # closed meanwhile
            fresh.close()
            self._check_open()
        if held is not None:
            self._drop(held.conn)
        self._local.held = _Held(fresh)
        # A thread that ends drops its thread-local holder, and with it its connection.
        weakref.finalize(self._local.held, self._drop, fresh)
        return fresh

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database is closed")

    def _drop(self, conn: psycopg.Connection[Any]) -> None:
        with self._guard:
            if conn in self._open:
                self._open.remove(conn)
        conn.close()


class _Held:
    """A thread's connection, in its thread-local slot."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn


def _connect(conninfo: str, prepare_threshold: int | None) -> psycopg.Connection[Any]:
    return psycopg.connect(
        conninfo,
        autocommit=True,
        prepare_threshold=prepare_threshold,
        connect_timeout=_CONNECT_TIMEOUT_SECONDS,
    )


class PostgresDatabase(SqlDatabase):
    @classmethod
    def open(
        cls, url: str, *, clock: Callable[[], float], pool_mode: PoolMode = "session"
    ) -> PostgresDatabase:
        """Connect to `url` (a libpq URI) and migrate the database it names; `pool_mode`
        is how a pooler in between hands out server connections."""
        where = describe(url)
        try:
            conn = PostgresConnection(url, prepare=pool_mode == "session")
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {where}: {exc}") from exc
        try:
            migrate(conn, int(clock()), POSTGRES_MIGRATIONS, lock=_MIGRATION_LOCK)
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(f"cannot use PostgreSQL database {where}: {exc}") from exc
        return cls(conn, clock, POSTGRESQL, lock=contextlib.nullcontext(), call=conn.loop_call)


def describe(url: str) -> str:
    """host:port/dbname of `url`, never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "(an invalid postgresql:// URL)"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"
