"""What only PostgreSQL has: the placeholder translation, many-row inserts as COPY, several
replicas creating the schema at once, a connection lost under the stores (the server
restarted), a connection per thread and store calls off the event loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import psycopg
import pytest
from tests.backends import execute, query
from tests.postgres_server import PostgresServer

from polyrelay.storage import ApiKey, Database, StoredResponse, UsageRecord, open_database
from polyrelay.storage.postgres import DatabaseClosed, PostgresConnection, translate
from polyrelay.storage.postgres_copy import bulk_insert_of
from polyrelay.storage.postgres_schema import POSTGRES_MIGRATIONS


def test_placeholders_become_psycopgs_and_percent_signs_stay_literal() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE '5%'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '5%%'"
    )
    assert translate("UPDATE t SET x = :now WHERE y < :now AND z = 'a::text'") == (
        "UPDATE t SET x = %(now)s WHERE y < %(now)s AND z = 'a::text'"
    )


def test_replicas_starting_together_create_the_schema_once(
    running_postgres: PostgresServer,
) -> None:
    url = running_postgres.fresh_schema_url()
    errors: list[BaseException] = []
    opened = []

    def start() -> None:
        try:
            opened.append(open_database(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in opened:
        database.close()
    assert errors == [] and len(opened) == 4
    migrated = query(url, "SELECT name FROM _migrations ORDER BY name")
    assert migrated == [(name,) for name, _ in POSTGRES_MIGRATIONS]


def stored_response(response_id: str) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        key_id="key_1",
        created_at=1,
        status="completed",
        response={"id": response_id, "object": "response", "output": []},
    )


def usage_row(n: int) -> UsageRecord:
    return UsageRecord(
        id=f"req_{n}",
        key_id="key_a",
        model="m",
        provider="p",
        created_at=1_700_000_000,
        input_tokens=1,
        output_tokens=2,
        status=200,
        stream=False,
    )


def drop_connections(url: str) -> None:
    """What a server restart does to the gateway's connection."""
    execute(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE pid != pg_backend_pid() AND datname = current_database()"
        " AND application_name != 'keep'",
    )


def test_a_connection_the_server_ended_is_replaced_before_the_next_call(
    running_postgres: PostgresServer,
) -> None:
    """No call fails for it (polyrelay.storage.postgres_rerun; more in test_postgres_rerun)."""
    url = running_postgres.fresh_schema_url()
    database = open_database(url)
    try:
        key, _ = database.keys.create("before", None)
        drop_connections(url)
        assert [k.id for k in database.keys.list()] == [key.id]
    finally:
        database.close()


def test_usage_parked_when_the_connection_is_lost_is_still_committed(
    running_postgres: PostgresServer,
) -> None:
    url = running_postgres.fresh_schema_url()
    database = open_database(url)
    try:
        database.usage.record(usage_row(1))
        database.usage.flush()
        drop_connections(url)
        database.usage.record(usage_row(2))
        database.usage.flush()  # on a fresh connection: the ended one is found dead first
        deadline = time.monotonic() + 5
        while len(query(url, "SELECT id FROM usage")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sorted(query(url, "SELECT id FROM usage")) == [("req_1",), ("req_2",)]
    finally:
        database.close()


def test_inserts_of_one_placeholder_per_column_are_copied() -> None:
    plain = bulk_insert_of("INSERT INTO usage (id, key_id) VALUES (?, ?)", translate)
    assert plain is not None and (plain.table, plain.columns, plain.conflict) == (
        "usage",
        "id, key_id",
        "",
    )
    upsert = bulk_insert_of(
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b",
        translate,
    )
    assert upsert is not None and upsert.conflict == "ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    for other in (
        "INSERT INTO key_tokens VALUES (?, ?) ON CONFLICT (key_id) DO NOTHING",  # no columns
        "INSERT INTO t (a, b) VALUES (?, 'pending')",  # a literal
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ?",
        "INSERT INTO t (a) VALUES (?, ?)",
        "UPDATE t SET a = ?",
    ):
        assert bulk_insert_of(other, translate) is None, other


def test_copied_upserts_in_and_out_of_a_transaction(running_postgres: PostgresServer) -> None:
    url = running_postgres.fresh_schema_url()
    conn = PostgresConnection(url)
    try:
        conn.execute("CREATE TABLE t (a TEXT PRIMARY KEY, b BYTEA, n SMALLINT, c TEXT)")
        upsert = (
            "INSERT INTO t (a, b, n, c) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (a) DO UPDATE SET b = excluded.b, n = t.n + excluded.n"
        )
        conn.executemany(upsert, [("x", b"\x00\xff", 1, None), ("y", b"", 2, "it's")])
        conn.execute("BEGIN")
        conn.executemany(upsert, [("x", b"new", 10, None)])
        conn.executemany(upsert, [("z", b"z", 5, None)])  # the stage is empty again
        conn.execute("COMMIT")
        rows = conn.execute("SELECT a, b, n, c FROM t ORDER BY a").fetchall()
        assert rows == [("x", b"new", 11, None), ("y", b"", 2, "it's"), ("z", b"z", 5, None)]
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.executemany("INSERT INTO t (a, n) VALUES (?, ?)", [("w", 1), (None, 2)])
        with pytest.raises(psycopg.errors.CardinalityViolation):  # one row updated twice
            conn.executemany(upsert, [("x", b"1", 1, None), ("x", b"2", 1, None)])
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)  # nothing half-done
    finally:
        conn.close()


def test_each_thread_has_a_connection_of_its_own(running_postgres: PostgresServer) -> None:
    url = running_postgres.fresh_schema_url()
    conn = PostgresConnection(url)
    try:
        conn.execute("CREATE TABLE t (a TEXT)")
        in_transaction = threading.Event()
        finish = threading.Event()
        seen: dict[str, object] = {}

        def other_thread() -> None:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (?)", ("uncommitted",))
            seen["pid"] = conn.execute("SELECT pg_backend_pid()").fetchone()
            in_transaction.set()
            finish.wait(10)
            conn.execute("COMMIT")

        thread = threading.Thread(target=other_thread)
        thread.start()
        assert in_transaction.wait(10)
        # This thread is outside the other's transaction: it neither sees its row nor waits.
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
        assert conn.execute("SELECT pg_backend_pid()").fetchone() != seen["pid"]
        assert conn.open_connections == 2
        finish.set()
        thread.join(10)
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
        gc.collect()  # the ended thread's slot goes, and its connection with it
        assert conn.open_connections == 1
    finally:
        conn.close()
    assert conn.open_connections == 0
    with pytest.raises(DatabaseClosed):
        conn.execute("SELECT 1")


class LockedCounts(NamedTuple):
    url: str
    database: Database
    key: ApiKey
    holder: psycopg.Connection[Any]
    """In a transaction that holds key_minutes against writes, as another replica's might:
    the key's next count waits for it."""


@pytest.fixture
def locked_counts(running_postgres: PostgresServer) -> Iterator[LockedCounts]:
    url = running_postgres.fresh_schema_url()
    database = open_database(url)
    key, _ = database.keys.create("limited", None)
    holder = psycopg.connect(url)
    holder.execute("LOCK TABLE key_minutes IN EXCLUSIVE MODE")
    yield LockedCounts(url, database, key, holder)
    holder.close()
    database.close()


def test_a_store_call_that_waits_on_postgresql_leaves_the_event_loop_running(
    locked_counts: LockedCounts,
) -> None:
    database, key, holder = locked_counts.database, locked_counts.key, locked_counts.holder
    release = threading.Timer(3, holder.commit)  # lets a blocked loop go on, to fail below
    release.start()

    async def scenario() -> tuple[float, bool, int]:
        admit = asyncio.ensure_future(database.call(database.keys.admit, key.id, 1))
        started = time.monotonic()
        for _ in range(20):  # other work of the loop, while the count waits for the lock
            await asyncio.sleep(0.01)
        ticking, waiting = time.monotonic() - started, not admit.done()
        holder.commit()
        return ticking, waiting, (await admit).requests

    try:
        ticking, waiting, requests = asyncio.run(scenario())
    finally:
        release.cancel()
    assert ticking < 1.5 and waiting
    assert requests == 1


def test_store_calls_on_the_loop_that_flush_at_once_do_not_deadlock(
    running_postgres: PostgresServer,
) -> None:
    """Each delete commits the parked responses first, holding the store's flush lock
    across round trips; the second waits for it without blocking the loop's thread."""
    url = running_postgres.fresh_schema_url()
    database = open_database(url)
    for n in range(2):
        database.responses.put(stored_response(f"resp_{n}"))
    outcome: list[object] = []

    async def deletes() -> list[bool]:
        calls = (database.call(database.responses.delete, f"resp_{n}", "key_1") for n in (0, 1))
        return list(await asyncio.gather(*calls))

    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(deletes())), daemon=True)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "the second delete blocked the event loop's thread"
    database.close()
    assert outcome == [[True, True]]
    assert query(url, "SELECT count(*) FROM responses") == [(0,)]


def test_a_cancelled_store_call_leaves_nothing_half_done_and_the_next_call_works(
    locked_counts: LockedCounts,
) -> None:
    database, key, holder = locked_counts.database, locked_counts.key, locked_counts.holder

    async def scenario() -> int:
        admit = asyncio.ensure_future(database.call(database.keys.admit, key.id, 1))
        await asyncio.sleep(0.3)  # waiting for the lock, mid-statement
        admit.cancel()
        with pytest.raises(asyncio.CancelledError):
            await admit
        holder.commit()
        # The cancelled statement's connection is not reused; the next call works.
        return (await database.call(database.keys.admit, key.id, 1)).requests

    requests = asyncio.run(scenario())
    # The cancelled count is either undone (its connection closed before the lock went)
    # or whole; never a broken row.
    assert requests in (1, 2)
    assert query(locked_counts.url, "SELECT requests FROM key_minutes") == [(requests,)]
