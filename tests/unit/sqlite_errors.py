"""A real SQLite "database is locked" for tests that need the error an outage raises."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path


def locked_sqlite_error() -> sqlite3.OperationalError:
    """What SQLite raises when another connection holds the write lock (SQLITE_BUSY)."""
    with tempfile.TemporaryDirectory(prefix="polyrelay-locked-") as directory:
        path = Path(directory) / "locked.db"
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("INSERT INTO t VALUES (1)")
        except sqlite3.OperationalError as exc:
            return exc
        finally:
            other.close()
            holder.close()
    raise AssertionError("the write was not refused")
