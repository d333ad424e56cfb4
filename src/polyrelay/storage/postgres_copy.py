"""Many-row INSERTs on PostgreSQL through COPY.

psycopg's `executemany` costs about 20 µs of the gateway's CPU per row (a statement per
row, each adapted in Python); `COPY ... FROM STDIN` costs 2 to 4 µs. The writer threads
insert every request's usage row and every stored response, so the stores' plain
`INSERT INTO t (columns) VALUES (?, ...)` runs as a COPY, and an upsert (`... ON CONFLICT
...`) as a COPY into a temporary staging table and one `INSERT ... SELECT` with the same
conflict clause. Other statements take `executemany`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import psycopg
from psycopg.pq import TransactionStatus

from polyrelay.storage.inserts import one_row_insert

__all__ = ["BulkInsert", "bulk_insert_of", "copy_rows"]


class BulkInsert(NamedTuple):
    table: str
    columns: str
    conflict: str
    """The statement's ON CONFLICT clause, placeholders translated; "" for none."""
    stage: str
    """The staging table of an upsert (one per table and column list)."""


def bulk_insert_of(sql: str, translate: Callable[[str], str]) -> BulkInsert | None:
    """The COPY plan of an INSERT of one placeholder per named column, else None."""
    shape = one_row_insert(sql)
    if shape is None or shape.columns is None or not shape.placeholders_only:
        return None
    table, columns, rest = shape.table, shape.columns, shape.rest.strip()
    if shape.width != len(columns.split(",")) or "?" in rest:
        return None
    if rest and not rest.startswith("ON CONFLICT"):
        return None
    stage = f"_stage_{table}_{zlib.crc32(columns.encode()):08x}"
    return BulkInsert(table, columns, translate(rest) if rest else "", stage)


def copy_rows(
    conn: psycopg.Connection[Any], plan: BulkInsert, rows: Iterable[Any]
) -> psycopg.Cursor[Any]:
    """Insert `rows` as `plan` says, in the caller's transaction or (outside one) in one
    of its own. Rows of an upsert must not repeat a conflict key (PostgreSQL refuses to
    update one row twice in a statement)."""
    cursor = conn.cursor()
    if not plan.conflict:
        _copy(cursor, plan.table, plan.columns, rows)
        return cursor
    own = conn.info.transaction_status == TransactionStatus.IDLE
    stage = plan.stage
    if own:
        cursor.execute("BEGIN")
    try:
        # Created once per session (a temporary table is the session's own); emptied at
        # commit, and after use for a second upsert in the same transaction. Through a
        # pooler that pools per transaction, the server connection that runs this one
        # gets its own: same name, same columns, and empty outside a transaction.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS"  # noqa: S608
            f" AS SELECT {plan.columns} FROM {plan.table} WITH NO DATA"
        )
        _copy(cursor, stage, plan.columns, rows)
        cursor.execute(
            f"INSERT INTO {plan.table} ({plan.columns})"  # noqa: S608
            f" SELECT {plan.columns} FROM {stage} {plan.conflict}"
        )
        cursor.execute(f"DELETE FROM {stage}")  # noqa: S608
        if own:
            cursor.execute("COMMIT")
    except BaseException:
        if own and not conn.broken:
            cursor.execute("ROLLBACK")
        raise
    return cursor


def _copy(cursor: psycopg.Cursor[Any], table: str, columns: str, rows: Iterable[Any]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
