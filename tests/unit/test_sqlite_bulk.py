"""SqliteConnection: a one-row INSERT's executemany runs as a few multi-row statements, with
the same rows, order and conflict handling as one statement per row."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import cast

import pytest

from polyrelay.storage import UsageRecord, open_database
from polyrelay.storage.sqlite_bulk import SqliteConnection, _chunk_sizes
from polyrelay.storage.usage import SqlUsageStore


def _connection() -> tuple[SqliteConnection, list[str]]:
    conn = sqlite3.connect(":memory:", isolation_level=None, factory=SqliteConnection)
    assert isinstance(conn, SqliteConnection)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)")
    statements.clear()
    return conn, statements


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.startswith("SELECT")]


@pytest.mark.parametrize("rows", [0, 1, 2, 63, 255, 256, 257, 600])
def test_every_row_goes_in_in_order(rows: int) -> None:
    conn, statements = _connection()
    conn.executemany("INSERT INTO t (name, n) VALUES (?, ?)", [(f"r{i}", i) for i in range(rows)])
    got = conn.execute("SELECT id, name, n FROM t ORDER BY id").fetchall()
    assert got == [(i + 1, f"r{i}", i) for i in range(rows)]
    assert len(_writes(statements)) == len(_chunk_sizes(rows, 256))


def test_a_batch_of_300_is_three_statements_not_300() -> None:
    conn, statements = _connection()
    conn.executemany("INSERT INTO t (name, n) VALUES (?, ?)", ((f"r{i}", i) for i in range(300)))
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (300,)
    assert [s.count("(") for s in _writes(statements)] == [1 + 256, 1 + 32, 1 + 8, 1 + 4]


def test_chunks_are_full_statements_then_powers_of_two() -> None:
    assert _chunk_sizes(0, 64) == []
    assert _chunk_sizes(200, 64) == [64, 64, 64, 8]
    assert _chunk_sizes(63, 64) == [32, 16, 8, 4, 2, 1]
    assert _chunk_sizes(100, 49) == [49, 49, 2]
    # at most 9 statement texts for any batch, so the statement cache keeps them
    assert len({n for total in range(2000) for n in _chunk_sizes(total, 256)}) == 9


def test_wide_rows_stay_under_sqlites_limit_on_variables() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None, factory=SqliteConnection)
    columns = [f"c{i}" for i in range(20)]
    conn.execute(f"CREATE TABLE w ({', '.join(columns)})")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    marks = ", ".join("?" * 20)
    conn.executemany(f"INSERT INTO w VALUES ({marks})", [tuple(range(20))] * 300)
    assert conn.execute("SELECT COUNT(*), SUM(c19) FROM w").fetchone() == (300, 300 * 19)


def test_a_key_twice_in_one_batch_accumulates_as_row_by_row_does() -> None:
    conn, _ = _connection()
    conn.executemany(
        "INSERT INTO t (id, name, n) VALUES (?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET n = t.n + excluded.n",
        [(1, "a", 5), (2, "b", 1), (1, "a", 7)],
    )
    assert conn.execute("SELECT id, n FROM t ORDER BY id").fetchall() == [(1, 12), (2, 1)]


def test_literals_in_the_values_group_are_kept() -> None:
    conn, statements = _connection()
    conn.executemany("INSERT INTO t (name, n) VALUES (?, 'x')", [("a",), ("b",)])
    assert conn.execute("SELECT name, n FROM t ORDER BY id").fetchall() == [("a", "x"), ("b", "x")]
    assert len(_writes(statements)) == 1


def test_other_statements_run_row_by_row_as_before() -> None:
    conn, statements = _connection()
    conn.executemany("INSERT INTO t (name, n) VALUES (:name, :n)", [{"name": "a", "n": 1}] * 3)
    conn.executemany("UPDATE t SET n = n + ? WHERE name = ?", [(1, "a"), (2, "a")])
    conn.executemany("INSERT INTO t (name, n) SELECT ?, ?", [("s", 0)])
    assert conn.execute("SELECT COUNT(*), SUM(n) FROM t").fetchone() == (4, 3 + 3 * 3)
    assert len(_writes(statements)) == 3 + 2 + 1


def test_a_refused_row_fails_the_call_and_the_callers_transaction_undoes_it() -> None:
    conn, _ = _connection()
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError):
        conn.executemany("INSERT INTO t (id, name) VALUES (?, ?)", [(1, "a"), (2, None)])
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)


def test_the_gateways_database_batches_its_usage_rows(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        conn = cast(SqlUsageStore, database.usage)._conn
        assert isinstance(conn, SqliteConnection)
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        now = int(time.time())
        for i in range(70):
            database.usage.record(
                UsageRecord(id=f"req_{i}", key_id="k", model="m", provider="p", created_at=now)
            )
        database.usage.flush()
        conn.set_trace_callback(None)
        inserts = [s for s in statements if s.startswith("INSERT INTO usage")]
        # 70 = 64 + 4 + 2 in one batch; the writer thread may have taken a first batch
        assert 3 <= len(inserts) <= 2 * 9
        assert database.usage.summary(group_by="model")[0].requests == 70
    finally:
        database.close()


def test_rows_of_the_wrong_shape_get_the_stdlibs_error_not_shifted_values() -> None:
    conn, _ = _connection()
    with pytest.raises(sqlite3.ProgrammingError):  # 1 + 3 values: flattened, they would fit
        conn.executemany("INSERT INTO t (name, n) VALUES (?, ?)", [("a",), ("b", 2, 3)])
    with pytest.raises(sqlite3.ProgrammingError):  # named values for ? placeholders
        conn.executemany("INSERT INTO t (name, n) VALUES (?, ?)", [{"name": "a", "n": 1}])
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
