"""A statement that meets a PostgreSQL connection the server ended (a restart) is sent again
on a fresh one only when nothing can run twice (polyrelay.storage.postgres_rerun): found
dead before it was sent, any statement; broken under it, only a read or a BEGIN outside a
transaction; inside a transaction, never. Each case runs on a thread's connection and in
a store call on the event loop (a greenlet on an async connection).

The server's ending of a session is `pg_terminate_backend`, what a restart does to each
of them (FATAL 57P01, then the close), so the session's shared server keeps running."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import pytest
from tests.backends import execute, query
from tests.postgres_server import PostgresServer

from polyrelay.storage.postgres import PostgresConnection
from polyrelay.storage.postgres_green import LoopConnections, current_connection
from polyrelay.storage.postgres_rerun import found_dead, may_send_again
from polyrelay.storage.transaction import write_transaction

T = TypeVar("T")


@pytest.mark.parametrize(
    ("statement", "started_fresh", "broken", "again"),
    [
        ("SELECT id FROM keys WHERE hash = %s", True, True, True),
        ("  select count(*) FROM usage", True, True, True),
        ("BEGIN", True, True, True),
        # A write may have been committed before the connection broke.
        ("INSERT INTO usage (id) VALUES (%s)", True, True, False),
        ("UPDATE responses SET status = %s", True, True, False),
        ("DELETE FROM responses WHERE id = %s", True, True, False),
        ("WITH gone AS (DELETE FROM t RETURNING a) SELECT a FROM gone", True, True, False),
        ("COMMIT", True, True, False),
        # A SELECT with an effect is not a read.
        ("SELECT pg_advisory_xact_lock(1)", True, True, False),
        ("SELECT nextval('s')", True, True, False),
        ("SELECT pg_notify('c', 'm')", True, True, False),
        # Inside a transaction: the transaction went with the connection.
        ("SELECT id FROM keys", False, True, False),
        # A live connection: a timeout, a cancel or a deadlock, not a break.
        ("SELECT id FROM keys", True, False, False),
    ],
)
def test_what_may_be_sent_again(
    statement: str, started_fresh: bool, broken: bool, again: bool
) -> None:
    assert may_send_again(statement, started_fresh=started_fresh, broken=broken) is again


def backend_of(conn: PostgresConnection) -> int:
    pid: int = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    return pid


def end_session(url: str, pid: int) -> None:
    """The server ends a session as a restart does; returns once it has."""
    execute(url, "SELECT pg_terminate_backend(?, 5000)", (pid,))


@contextmanager
def ended_while_running(url: str, marker: str) -> Iterator[None]:
    """The server ends, once, the session that runs a statement naming `marker`, while it
    runs (from a thread of its own, as a restart would)."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running = query(
                url,
                "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                " AND pid != pg_backend_pid() AND query LIKE ?",
                (f"%{marker}%",),
            )
            if running:
                end_session(url, running[0][0])
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield
    finally:
        watcher.join()


@pytest.fixture
def url(running_postgres: PostgresServer) -> str:
    url = running_postgres.fresh_schema_url()
    execute(url, "CREATE TABLE t (a TEXT)")
    return url


@pytest.fixture
def conn(url: str) -> Iterator[PostgresConnection]:
    conn = PostgresConnection(url)
    yield conn
    conn.close()


Runner = Callable[[PostgresConnection, Callable[[], T]], T]


def on_thread(conn: PostgresConnection, scenario: Callable[[], T]) -> T:
    return scenario()


def on_loop(conn: PostgresConnection, scenario: Callable[[], T]) -> T:
    return asyncio.run(conn.loop_call(scenario))


PATHS = pytest.mark.parametrize("path", [on_thread, on_loop], ids=["thread", "loop"])


@PATHS
def test_a_write_on_a_connection_the_server_ended_is_sent_on_a_fresh_one(
    url: str, conn: PostgresConnection, path: Runner[int]
) -> None:
    def scenario() -> int:
        ended = backend_of(conn)
        end_session(url, ended)
        conn.execute("INSERT INTO t VALUES (?)", ("once",))  # found dead before it went
        assert backend_of(conn) != ended
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]

    assert path(conn, scenario) == 1
    assert query(url, "SELECT a FROM t") == [("once",)]


@PATHS
def test_a_read_the_break_met_is_sent_again(
    url: str, conn: PostgresConnection, path: Runner[Any]
) -> None:
    marker = uuid.uuid4().hex

    def scenario() -> Any:
        backend_of(conn)  # the connection is open before the read
        with ended_while_running(url, marker):
            return conn.execute(f"SELECT '{marker}' FROM pg_sleep(1)").fetchone()

    assert path(conn, scenario) == (marker,)


@PATHS
def test_a_write_the_break_met_is_not_sent_again(
    url: str, conn: PostgresConnection, path: Runner[None]
) -> None:
    marker = uuid.uuid4().hex

    def scenario() -> None:
        backend_of(conn)
        with ended_while_running(url, marker), pytest.raises(psycopg.OperationalError):
            conn.execute(f"INSERT INTO t SELECT '{marker}' FROM pg_sleep(1)")
        conn.execute("INSERT INTO t VALUES (?)", ("next",))  # on a fresh connection

    path(conn, scenario)
    # The server ended the INSERT before it committed; sent again, it would be there.
    assert query(url, "SELECT a FROM t") == [("next",)]


@PATHS
def test_a_transaction_the_break_met_is_rolled_back_not_finished_elsewhere(
    url: str, conn: PostgresConnection, path: Runner[None]
) -> None:
    def scenario() -> None:
        with pytest.raises(psycopg.OperationalError), write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (?)", ("first",))
            end_session(url, backend_of(conn))
            conn.execute("INSERT INTO t VALUES (?)", ("second",))
        conn.execute("INSERT INTO t VALUES (?)", ("after",))

    path(conn, scenario)
    assert query(url, "SELECT a FROM t") == [("after",)]


def test_found_dead_only_outside_a_transaction(url: str) -> None:
    idle = psycopg.connect(url, autocommit=True)
    busy = psycopg.connect(url)
    try:
        busy.execute("SELECT 1")  # opens busy's transaction (not autocommit)
        assert not found_dead(idle) and not found_dead(busy)
        for conn in (idle, busy):
            end_session(url, conn.info.backend_pid)
        assert found_dead(idle)
        # Its statements must fail with the transaction, not go on without it.
        assert not found_dead(busy)
    finally:
        idle.close()
        busy.close()
    assert found_dead(idle)  # closed


def test_a_store_call_that_needs_no_database_is_answered_when_it_is_out_of_reach() -> None:
    """A stored response still parked in memory is readable in an outage: the store call
    opens its connection only when it reaches the database."""
    attempts: list[int] = []

    async def refuse() -> Any:
        attempts.append(1)
        raise psycopg.OperationalError("connection refused")

    def statement() -> Any:
        green = current_connection()
        assert green is not None
        return green.execute("SELECT 1")

    connections = LoopConnections(refuse, 2)
    assert asyncio.run(connections.run(lambda: "from memory")) == "from memory"
    assert attempts == []
    with pytest.raises(psycopg.OperationalError):
        asyncio.run(connections.run(statement))
    assert attempts == [1]
