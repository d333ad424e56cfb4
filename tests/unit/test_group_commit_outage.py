"""The group-commit writers when the database is unreachable: parked records wait and are
written, in order, once it is back (the outage logged once as it starts and once as it
ends); a record the database refuses is dropped alone; at most `cap` records wait; a
flush that meets the outage (the shutdown's) says how many would be lost."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from tests.unit.sqlite_errors import locked_sqlite_error

from polyrelay.storage import StoredResponse
from polyrelay.storage.database import SqlDatabase
from polyrelay.storage.dialect import SQLITE
from polyrelay.storage.group_commit import GroupCommit
from polyrelay.storage.responses import SqlResponseStore
from polyrelay.storage.sqlite import SqliteDatabase
from polyrelay.storage.usage import SqlUsageStore, UsageRecord


def _refused() -> Exception:
    return psycopg.OperationalError("connection failed: Connection refused")


OUTAGES: dict[str, Callable[[], Exception]] = {
    "postgresql": _refused,
    "sqlite": locked_sqlite_error,
}


class Flaky:
    """A connection whose transactions fail with `error()` while `down` (or `fail` more
    times): the database is unreachable."""

    def __init__(self, conn: Any, error: Callable[[], Exception]) -> None:
        self._conn = conn
        self._error = error
        self.down = False
        self.fail = 0
        self.begun = 0

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        if sql == "BEGIN IMMEDIATE":
            self.begun += 1
            if self.down or self.fail > 0:
                self.fail -= 1
                raise self._error()
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self._conn.executemany(sql, parameters)

    def close(self) -> None:
        self._conn.close()


@pytest.fixture(params=list(OUTAGES))
def outage(request: pytest.FixtureRequest) -> Callable[[], Exception]:
    return OUTAGES[request.param]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    opened = SqliteDatabase.open(str(tmp_path / "polyrelay.db"), clock=time.time)
    yield opened
    opened.close()


@pytest.fixture
def conn(database: SqliteDatabase, outage: Callable[[], Exception]) -> Flaky:
    return Flaky(database._conn, outage)


def response(rid: str) -> StoredResponse:
    return StoredResponse(
        id=rid, key_id="k1", created_at=100, status="completed", response={"id": rid}
    )


def usage(rid: str, *, model: Any = "gpt-4o", minute: int | None = 7) -> UsageRecord:
    return UsageRecord(
        id=rid,
        key_id="k1",
        model=model,
        provider="p",
        created_at=100,
        input_tokens=3,
        output_tokens=4,
        counted_minute=minute,
    )


def rows(database: SqliteDatabase, table: str) -> list[str]:
    return [row[0] for row in database._conn.execute(f"SELECT id FROM {table} ORDER BY rowid")]


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def _logged_by(caplog: pytest.LogCaptureFixture, store: Any, text: str) -> list[str]:
    """`messages`, of the lines `store`'s own writer thread logged."""
    writer = store._commit._thread
    thread = None if writer is None else writer.ident
    return [r.getMessage() for r in caplog.records if r.thread == thread and text in r.getMessage()]


def test_responses_wait_out_an_outage_and_are_written_in_order(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = SqlResponseStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    # Three tries fail: on PostgreSQL the first and its second at once (the connection was
    # lost), on SQLite the first alone; then the one 0.5 s later (and SQLite's after 1 s).
    conn.fail = 3
    for i in range(5):
        store.put(response(f"resp_{i}"))
    wait_for(lambda: conn.begun >= 3)
    for i in range(5, 10):  # more come during the outage
        store.put(response(f"resp_{i}"))
    got = store.get("resp_2", "k1")  # readable while it waits
    assert got is not None and got.response == {"id": "resp_2"}
    wait_for(lambda: len(rows(database, "responses")) == 10)
    assert rows(database, "responses") == [f"resp_{i}" for i in range(10)]
    assert len(messages(caplog, "the database is unreachable")) == 1
    # How many it counts depends on whether the last five were parked before that try.
    assert len(messages(caplog, "writing resumed")) == 1
    assert not messages(caplog, "could not store")


def test_a_parked_responses_input_items_are_paged_from_memory_in_an_outage(
    conn: Flaky,
) -> None:
    """GET .../input_items, as `get`: the store committed its parked records before
    reading, which an outage refused even for a response it held."""
    store = SqlResponseStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    conn.down = True
    items: list[Any] = [{"id": f"msg_{n}", "type": "message"} for n in range(3)]
    store.put(msgspec.structs.replace(response("resp_held"), input_items=items))
    page = store.input_items("resp_held", "k1", limit=2)
    assert page is not None and [item["id"] for item in page.items] == ["msg_2", "msg_1"]
    page = store.input_items("resp_held", "k1", after="msg_0", order="asc")
    assert page is not None and [item["id"] for item in page.items] == ["msg_1", "msg_2"]
    with pytest.raises((psycopg.OperationalError, sqlite3.OperationalError)):
        store.input_items("resp_held", "k2")  # another key's: the outage (503), not the items
    # The record still to be written keeps its items' order.
    held = store.get("resp_held", "k1")
    assert held is not None and [item["id"] for item in held.input_items] == [
        "msg_0",
        "msg_1",
        "msg_2",
    ]
    conn.down = False
    store.flush()  # written: the writer thread has nothing left to say in later tests


def test_usage_waits_out_an_outage_and_its_tokens_count_meanwhile(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqlUsageStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    conn.down = True
    for i in range(6):
        store.record(usage(f"req_{i}"))
    wait_for(lambda: conn.begun >= 3)
    assert store.uncommitted_tokens("k1", 7) == (42, 42)  # still counted by the limits
    store.record(usage("req_6"))
    conn.down = False
    wait_for(lambda: len(rows(database, "usage")) == 7)
    assert rows(database, "usage") == [f"req_{i}" for i in range(7)]
    tokens = database._conn.execute("SELECT tokens FROM key_tokens WHERE key_id = 'k1'")
    assert tokens.fetchone() == (49,)  # each row's tokens once
    assert store.uncommitted_tokens("k1", 7) == (0, 0)
    assert len(messages(caplog, "the database is unreachable")) == 1
    assert len(messages(caplog, "writing resumed")) == 1


def test_a_bad_record_is_dropped_and_the_good_ones_written(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    responses = SqlResponseStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    bad = response("resp_bad")
    bad.input_items = [{"blob": object()}]  # type: ignore[dict-item]  # not encodable
    for record in (response("resp_1"), bad, response("resp_2")):
        responses.put(record)
    responses.flush()
    assert rows(database, "responses") == ["resp_1", "resp_2"]
    assert messages(caplog, "could not store response resp_bad")

    usage_store = SqlUsageStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    for row in (usage("req_1"), usage("req_bad", model=None), usage("req_2")):
        usage_store.record(row)  # a NULL model: NOT NULL refuses the row
    usage_store.flush()
    assert rows(database, "usage") == ["req_1", "req_2"]
    assert messages(caplog, "could not record usage of request req_bad")
    tokens = database._conn.execute("SELECT tokens FROM key_tokens WHERE key_id = 'k1'")
    assert tokens.fetchone() == (14,)  # the refused row's tokens are not counted


def test_an_outage_while_records_are_written_one_by_one_writes_none_twice(
    database: SqliteDatabase, conn: Flaky
) -> None:
    store = SqlUsageStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    for row in (usage("req_1"), usage("req_bad", model=None), usage("req_2"), usage("req_3")):
        store.record(row)
    real = conn.execute

    def down_after_the_bad_one(sql: str, parameters: Any = (), /) -> Any:
        if sql == "BEGIN IMMEDIATE" and conn.begun == 3:  # the batch, req_1, req_bad
            conn.fail = 1
        return real(sql, parameters)

    conn.execute = down_after_the_bad_one  # type: ignore[method-assign]
    store.flush()  # logs, raises nothing: the rest stays parked
    conn.execute = real  # type: ignore[method-assign]
    store.flush()
    assert rows(database, "usage") == ["req_1", "req_2", "req_3"]
    tokens = database._conn.execute("SELECT tokens FROM key_tokens WHERE key_id = 'k1'")
    assert tokens.fetchone() == (21,)


def test_past_the_cap_the_oldest_are_dropped_with_one_line(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    responses = SqlResponseStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    usage_store = SqlUsageStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    responses._commit.cap = usage_store._commit.cap = 20
    conn.down = True
    for i in range(22):  # the 21st drops the oldest 3, leaving room for a tenth more
        responses.put(response(f"resp_{i:02}"))
        usage_store.record(usage(f"req_{i:02}"))
    lost = messages(caplog, "the oldest")
    assert lost == [
        "polyrelay-responses: more than 20 stored responses wait to be written (the"
        " database is unreachable or slower than they come): the oldest 3 are lost",
        "polyrelay-usage: more than 20 usage rows wait to be written (the database is"
        " unreachable or slower than they come): the oldest 3 are lost",
    ]
    assert responses.get("resp_02", "k1") is None
    assert store_total(usage_store) == 19 * 7  # the dropped rows' tokens went with them
    conn.down = False
    responses.flush()
    usage_store.flush()
    assert rows(database, "responses") == [f"resp_{i:02}" for i in range(3, 22)]
    assert rows(database, "usage") == [f"req_{i:02}" for i in range(3, 22)]


def store_total(store: SqlUsageStore) -> int:
    return store.uncommitted_tokens("k1", 7)[1]


def test_a_flush_in_an_outage_keeps_the_records_and_says_how_many_would_be_lost(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    """What the shutdown's flush does when the database is still down."""
    responses = SqlResponseStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    usage_store = SqlUsageStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    conn.down = True
    for i in range(3):
        responses.put(response(f"resp_{i}"))
        usage_store.record(usage(f"req_{i}"))
    usage_store.flush()  # the shutdown hook: it must not stop the hooks after it
    with pytest.raises(type(conn._error())):  # a caller flushes for another process to see
        responses.flush()
    assert any("3 usage rows wait in memory" in m for m in messages(caplog, "lost if"))
    assert any("3 stored responses wait in memory" in m for m in messages(caplog, "lost if"))
    conn.down = False  # back before the process ended: nothing was lost
    responses.flush()
    usage_store.flush()
    assert rows(database, "responses") == ["resp_0", "resp_1", "resp_2"]
    assert rows(database, "usage") == ["req_0", "req_1", "req_2"]


@pytest.mark.parametrize(
    ("error", "tries"),
    [
        (locked_sqlite_error, 1),  # its busy_timeout was waited out once already
        (_refused, 2),
        (lambda: psycopg.InterfaceError("the connection is closed"), 2),
        (lambda: psycopg.errors.ReadOnlySqlTransaction("read-only transaction"), 1),
        (lambda: psycopg.errors.ProgramLimitExceeded("index row too large"), 1),
    ],
)
def test_a_flush_tries_again_at_once_only_when_the_connection_was_lost(
    error: Callable[[], Exception], tries: int
) -> None:
    """A SQLite BUSY tried twice would hold the connection lock every store shares, and
    so the event loop's store calls, for twice busy_timeout."""
    flushes: list[int] = []

    def flush() -> None:
        flushes.append(1)
        raise error()

    commit = GroupCommit(
        "test-writer",
        0.01,
        pending_count=lambda: 1,
        flush=flush,
        discard=lambda: None,
        closed_errors=(sqlite3.ProgrammingError,),
    )
    with pytest.raises(type(error())):
        commit.flush_now()
    assert len(flushes) == tries


def test_closing_in_an_outage_closes_the_connection_and_says_what_it_loses(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    opened = SqlDatabase(conn, time.time, SQLITE)  # type: ignore[arg-type]
    conn.down = True
    opened.responses.put(response("resp_1"))
    opened.usage.record(usage("req_1"))
    opened.close()  # the unreachable database is logged, not raised
    with pytest.raises(sqlite3.ProgrammingError):  # closed all the same
        database._conn.execute("SELECT 1")
    assert any("1 stored responses wait in memory" in m for m in messages(caplog, "lost if"))
    assert any("1 usage rows wait in memory" in m for m in messages(caplog, "lost if"))


def test_records_dropped_when_the_database_is_closed_in_an_outage_are_not_called_written(
    database: SqliteDatabase, conn: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqlResponseStore(conn, threading.Lock(), SQLITE)  # type: ignore[arg-type]
    conn.down = True
    store.put(response("resp_1"))
    # This store's writer's line: a writer thread another test left behind may log the
    # same words (seen once: the database was closed before this writer's first try).
    wait_for(lambda: bool(_logged_by(caplog, store, "the database is unreachable")))
    database._conn.close()  # the writer's next try meets a closed database
    conn.down = False
    wait_for(lambda: bool(messages(caplog, "closed before it was back")))
    (dropped,) = messages(caplog, "closed before it was back")
    assert "1 stored responses that waited are dropped" in dropped
    assert not messages(caplog, "writing resumed")
