"""Whether an exception says the database is out of reach for now, not that the gateway
or a record is at fault. One answer for every caller that acts on it: the writer threads
keep their records parked and retry (group_commit), the background loops retry their step
(background_loop), a task is retried instead of failed (tasks.runner), and a client gets
a 503 to retry instead of a 500 (web)."""

from __future__ import annotations

import sqlite3

__all__ = ["connection_lost", "database_unreachable"]

# SQLite's primary result codes that say the database, not the statement, is at fault: a
# lock held past busy_timeout (BUSY, LOCKED), no memory, the file read-only, an I/O error,
# a full disk, a file that cannot be opened. SQLite raises OperationalError for a syntax
# error or a missing table too (SQLITE_ERROR): retrying those would never end.
_SQLITE_UNREACHABLE = frozenset({5, 6, 7, 8, 10, 13, 14})


def database_unreachable(exc: BaseException) -> bool:
    """True for PostgreSQL's connection errors (psycopg's OperationalError and
    InterfaceError: refused, lost, the server shutting down or starting up, also a
    deadlock or a cancelled statement, which pass), a primary that became read-only in a
    failover, and SQLite's file errors above; also for an error raised `from` one of
    these. Not for a data error (DataError, IntegrityError, ProgrammingError), nor for a
    value beyond PostgreSQL's limits (an OperationalError the same record meets forever)."""
    cause = _database_error(exc)
    if isinstance(cause, sqlite3.OperationalError):
        return getattr(cause, "sqlite_errorcode", 0) & 0xFF in _SQLITE_UNREACHABLE
    return cause is not None and _psycopg_error(cause, read_only=True)


def connection_lost(exc: BaseException) -> bool:
    """A PostgreSQL connection that broke (psycopg's OperationalError or InterfaceError,
    or an error raised `from` one), which a second try at once may find replaced by the
    pool; not a read-only primary, nor anything SQLite raises."""
    cause = _database_error(exc)
    return (
        cause is not None
        and not isinstance(cause, sqlite3.Error)
        and (_psycopg_error(cause, read_only=False))
    )


def _database_error(exc: BaseException) -> BaseException | None:
    """The first of `exc` and its causes that is SQLite's OperationalError or psycopg's."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, sqlite3.OperationalError):
            return cause
        if type(cause).__module__.startswith("psycopg"):
            return cause
        cause = cause.__cause__
    return None


def _psycopg_error(exc: BaseException, *, read_only: bool) -> bool:
    """A connection error of psycopg's (and, with `read_only`, a read-only primary)."""
    # Imported here: only a process on PostgreSQL has psycopg's errors to classify.
    import psycopg

    if isinstance(exc, psycopg.errors.ProgramLimitExceeded):
        return False
    if read_only and isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return True
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
