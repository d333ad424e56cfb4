"""One write transaction on a store's connection (autocommit mode otherwise)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["write_transaction"]


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """`BEGIN IMMEDIATE` (the write lock first, so a read inside cannot be overtaken by
    another process's write), `COMMIT` at the end, `ROLLBACK` on any exception. The
    caller holds the connection's lock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
