"""What the SQL stores need to know about the database they run on.

The stores (keys, responses, tasks, ...) write one SQL text for SQLite and PostgreSQL:
`?` and `:name` placeholders, `ON CONFLICT` upserts, `RETURNING`, and tables qualified in
upsert assignments. The PostgreSQL connection translates placeholders as it executes
(polyrelay.storage.postgres), so SQLite's connection is used as it is, at no cost on the
hot path. What cannot be one text is here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

__all__ = ["SQLITE", "ConnectionLock", "Dialect", "SqlConnection", "SqlCursor"]


class SqlCursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """The part of a DB-API connection the stores use (sqlite3.Connection has it), in
    autocommit mode: a transaction is an explicit BEGIN ... COMMIT."""

    def execute(self, sql: str, parameters: Any = (), /) -> SqlCursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> SqlCursor: ...

    def close(self) -> None: ...


ConnectionLock: TypeAlias = AbstractContextManager[Any]
"""What a store holds around its use of the connection: a lock where every thread shares
one connection (SQLite), nothing where each thread has its own (PostgreSQL)."""


@dataclass(frozen=True)
class Dialect:
    skip_locked: str
    """Appended to a claim's `SELECT ... LIMIT 1` so concurrent claimers pass each other."""
    day_of_created_at: str
    """SQL for `YYYY-MM-DD` (UTC) of a row's Unix-time `created_at`."""
    closed_errors: tuple[type[BaseException], ...]
    """What a call on a closed database raises (a writer thread then stops writing)."""
    integrity_errors: tuple[type[BaseException], ...]
    """A constraint refused the write (unique key, foreign key)."""


SQLITE = Dialect(
    skip_locked="",  # one writer at a time: the database lock orders claims already
    day_of_created_at="date(created_at, 'unixepoch')",
    closed_errors=(sqlite3.ProgrammingError,),
    integrity_errors=(sqlite3.IntegrityError,),
)
