"""SqliteConnection: `executemany` of a one-row INSERT as a few multi-row INSERTs.

The writer threads (usage, stored responses, key counters, ...) commit a batch of rows
with `executemany`. The stdlib runs that as one `sqlite3_step` per row, and releases the
GIL around every step: with the event loop busy, each release is a hand-off between the
two threads (futex calls, a context switch, cold caches), and a batch of 40 rows cost the
event loop thread more CPU than the writer's own work. `INSERT ... VALUES (...), (...),
...` writes the same rows in one step. With the stored Responses' commit interval
(group_commit), gateway CPU per request at 16 connections fell 8-11 % on responses→openai
and on chat→openai (bench/README.md, "the writer threads again").

Rows go in statements of 256 (fewer when SQLite's limit on variables says so), then the
remainder in powers of two (128, 64, ..., 1), so a statement has at most 9 texts (the
connection's statement cache holds them). Each row is still one row of the INSERT in
order: an `ON CONFLICT ... DO UPDATE` that meets a row made by an earlier row of the same
statement updates it, as it would have one statement later. Statements of any other
shape, and rows that are not sequences of exactly one value per placeholder (flattened,
they would shift values between rows), run through the stdlib's `executemany`, which
also reports the rows' errors as it always has.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from polyrelay.storage.inserts import one_row_insert

__all__ = ["SqliteConnection"]

_ROWS_PER_STATEMENT = 256


class SqliteConnection(sqlite3.Connection):
    """A sqlite3 connection (pass as `factory=`) whose one-row INSERTs batch."""

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        shape = one_row_insert(sql)
        if shape is None:
            return super().executemany(sql, parameters)
        width = shape.width
        rows = parameters if isinstance(parameters, Sequence) else list(parameters)
        if not all(type(row) in (tuple, list) and len(row) == width for row in rows):
            return super().executemany(sql, rows)
        variables = self.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # 999 before 3.32
        per_statement = min(_ROWS_PER_STATEMENT, max(1, variables // max(width, 1)))
        cursor = self.cursor()
        at = 0
        for size in _chunk_sizes(len(rows), per_statement):
            flat = [value for row in rows[at : at + size] for value in row]
            cursor.execute(_multi_row(shape.head, shape.row, shape.rest, size), flat)
            at += size
        return cursor


@functools.lru_cache(maxsize=512)
def _multi_row(head: str, row: str, rest: str, rows: int) -> str:
    return head + ", ".join([row] * rows) + rest


def _chunk_sizes(total: int, largest: int) -> list[int]:
    """`total` as full statements of `largest`, then powers of two below it."""
    sizes = [largest] * (total // largest)
    rest = total % largest
    power = 1 << (largest.bit_length() - 1)
    while rest:
        if rest >= power:
            sizes.append(power)
            rest -= power
        power >>= 1
    return sizes
