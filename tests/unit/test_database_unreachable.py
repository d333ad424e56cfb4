"""Which errors mean the database is out of reach for now (storage/unreachable.py): the
writers keep their records and retry, a client gets a 503 to retry; a data error or a
fault of the gateway's SQL is none of these."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from tests.unit.sqlite_errors import locked_sqlite_error

from polyrelay.storage.unreachable import connection_lost, database_unreachable as unreachable


def test_the_outage_errors_are_told_from_data_errors() -> None:
    assert unreachable(locked_sqlite_error())
    assert unreachable(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert unreachable(psycopg.InterfaceError("the connection is closed"))
    assert unreachable(psycopg.errors.AdminShutdown("terminating connection"))
    assert unreachable(psycopg.errors.ReadOnlySqlTransaction("read-only transaction"))
    wrapped = RuntimeError("the store failed")
    wrapped.__cause__ = psycopg.OperationalError("the connection is closed")
    assert unreachable(wrapped)
    # The record or the gateway's SQL is at fault: retrying would never end.
    assert not unreachable(psycopg.errors.ProgramLimitExceeded("index row too large"))
    assert not unreachable(psycopg.DataError("invalid input"))
    assert not unreachable(psycopg.IntegrityError("null value"))
    assert not unreachable(psycopg.errors.UndefinedTable("no such table"))
    assert not unreachable(psycopg.ProgrammingError("bad query"))
    syntax = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as info:
        syntax.execute("SELEC 1")  # SQLITE_ERROR: the statement, not the database
    assert not unreachable(info.value)
    with pytest.raises(sqlite3.OperationalError) as info:
        syntax.execute("SELECT * FROM responses")  # no such table: SQLITE_ERROR too
    assert not unreachable(info.value)
    assert not unreachable(sqlite3.IntegrityError("NOT NULL constraint failed"))
    assert not unreachable(ValueError("not encodable"))
    assert not unreachable(RuntimeError("a bug"))


def test_a_lost_connection_is_only_postgresqls() -> None:
    """What a flush retries at once (group_commit): a connection a restart broke, which
    the pool has replaced by then; not SQLite's lock, which the try already waited for."""
    assert connection_lost(psycopg.OperationalError("server closed the connection"))
    assert connection_lost(psycopg.InterfaceError("the connection is closed"))
    wrapped = RuntimeError("the store failed")
    wrapped.__cause__ = psycopg.errors.AdminShutdown("terminating connection")
    assert connection_lost(wrapped)
    assert not connection_lost(psycopg.errors.ReadOnlySqlTransaction("read-only transaction"))
    assert not connection_lost(psycopg.errors.ProgramLimitExceeded("index row too large"))
    assert not connection_lost(locked_sqlite_error())
    assert not connection_lost(RuntimeError("a bug"))
