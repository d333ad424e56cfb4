"""One write transaction on a store's connection (autocommit mode otherwise)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from polyrelay.storage.dialect import SqlConnection

__all__ = ["write_transaction"]


@contextmanager
def write_transaction(conn: SqlConnection) -> Iterator[None]:
    """`BEGIN IMMEDIATE` (the write lock first, so a read inside cannot be overtaken by
    another process's write), `COMMIT` at the end, `ROLLBACK` on any exception. The
    caller holds the connection's lock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # The first error is the one to report: a ROLLBACK on a lost connection, or after
        # SQLite already rolled back, fails too.
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
