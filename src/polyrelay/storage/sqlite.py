"""The SQLite database (stdlib `sqlite3`): the embedded default, one machine.

WAL mode lets `polyrelay keys ...` write while a server reads; `busy_timeout` makes a
writer wait for another process's write lock instead of failing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from polyrelay.storage import StorageError
from polyrelay.storage.database import SqlDatabase
from polyrelay.storage.dialect import SQLITE
from polyrelay.storage.migrations import migrate
from polyrelay.storage.sqlite_bulk import SqliteConnection

__all__ = ["SqliteDatabase"]

P = ParamSpec("P")
T = TypeVar("T")

_BUSY_TIMEOUT_MS = 5000
_CACHED_STATEMENTS = 256
"""The stdlib's default is 128; each batched INSERT adds up to 9 texts (sqlite_bulk)."""


class SqliteDatabase(SqlDatabase):
    """The open connection and its stores; build it with `open`."""

    _long_calls = 0
    """Long store calls running in threads (`call_off_loop`)."""

    async def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """At once, as a store call on a local file is short; but while a long call holds
        the connection, in a thread: waiting for its lock on the loop's thread would stop
        every other request for as long as the long call runs."""
        if self._long_calls:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await super().call(fn, *args, **kwargs)

    async def call_off_loop(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """In a thread. SQLite releases the GIL while it writes, so the loop goes on
        serving requests (those that make a store call wait for this one, off the loop)."""
        self._long_calls += 1
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        finally:
            self._long_calls -= 1

    @classmethod
    def open(cls, path: str, *, clock: Callable[[], float]) -> SqliteDatabase:
        """Connect to `path` (":memory:" for a private in-memory database) and migrate it."""
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise StorageError(
                f"cannot open database {path}: directory {Path(path).parent} does not exist"
            )
        try:
            if path not in ("", ":memory:"):  # "" is a private temporary database
                _create_private(path)
            conn = sqlite3.connect(
                path,
                check_same_thread=False,
                isolation_level=None,
                factory=SqliteConnection,
                cached_statements=_CACHED_STATEMENTS,
            )
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                # WAL makes NORMAL durable against application crashes; only a power
                # loss can drop the last commits.
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # The writers' multi-row INSERTs need a statement journal, which SQLite
            # otherwise keeps in a temporary file made and unlinked on every commit (and
            # writes each changed page to first): 17 -> 13 us a stored response on a
            # table of 100,000 (bench/README.md). It holds one statement's pages.
            conn.execute("PRAGMA temp_store = MEMORY")
            migrate(conn, int(clock()))
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(f"cannot use database {path}: {exc}") from exc
        return cls(conn, clock, SQLITE)


def _create_private(path: str) -> None:
    """Create the database file readable by its owner alone, if it is new: it holds every
    key's prompts and answers and the webhook signing secret. SQLite gives its -wal and
    -shm files the database file's mode. An existing file keeps the mode it has (the
    operator's choice)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
