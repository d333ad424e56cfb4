"""SQLite implementation of the stores (stdlib `sqlite3`).

One connection per process, shared by every store and guarded by a lock: calls come from the
event loop thread, the response store's writer thread and the CLI; each is sub-millisecond,
so a pool would only add cost. WAL
mode lets `polyrelay keys ...` write while a server reads; `busy_timeout` makes a writer wait
for another process's write lock instead of failing.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polyrelay import codec
from polyrelay.auth import generate_secret, hash_secret
from polyrelay.storage import ApiKey, StorageError
from polyrelay.storage.batches import SqliteBatchStore
from polyrelay.storage.key_limits import NO_LIMITS, KeyLimits, KeyWindow, SqliteKeyCounters
from polyrelay.storage.migrations import migrate
from polyrelay.storage.response_events import SqliteResponseEventLog
from polyrelay.storage.responses import SqliteResponseStore
from polyrelay.storage.tasks import SqliteTaskStore
from polyrelay.storage.usage import SqliteUsageStore

__all__ = ["SqliteDatabase", "SqliteKeyStore"]

_BUSY_TIMEOUT_MS = 5000
_KEY_COLUMNS = (
    "id, name, prefix, models, created_at, revoked_at, expires_at, rpm, tpm, token_budget"
)
_PREFIX_LENGTH = 10


class SqliteKeyStore:
    def __init__(
        self, conn: sqlite3.Connection, lock: threading.Lock, clock: Callable[[], float]
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self._counters = SqliteKeyCounters(conn, lock)

    def get_by_hash(self, digest: str) -> ApiKey | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?",  # noqa: S608
                (digest,),
            ).fetchone()
        return None if row is None else _row_to_key(row)

    def create(
        self, name: str, models: tuple[str, ...] | None, limits: KeyLimits = NO_LIMITS
    ) -> tuple[ApiKey, str]:
        secret = generate_secret()
        key = ApiKey(
            id=f"key_{secrets.token_hex(8)}",
            name=name,
            prefix=secret[:_PREFIX_LENGTH],
            models=models,
            created_at=int(self._clock()),
            limits=limits,
        )
        stored_models = None if models is None else codec.encode_str(list(models))
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_keys (id, name, prefix, secret_hash, models, created_at,"
                " expires_at, rpm, tpm, token_budget) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    name,
                    key.prefix,
                    hash_secret(secret),
                    stored_models,
                    key.created_at,
                    limits.expires_at,
                    limits.rpm,
                    limits.tpm,
                    limits.token_budget,
                ),
            )
        return key, secret

    def admit(self, key_id: str, minute: int) -> KeyWindow:
        return self._counters.admit(key_id, minute)

    def refund(self, key_id: str, minute: int) -> None:
        self._counters.refund(key_id, minute)

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (int(self._clock()), key_id),
            )
        return cursor.rowcount == 1

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, rowid"  # noqa: S608
            ).fetchall()
        return [_row_to_key(row) for row in rows]


class SqliteDatabase:
    """The open connection and its stores; build it with `open`."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self._conn = conn
        lock = threading.Lock()
        self._keys = SqliteKeyStore(conn, lock, clock)
        self._responses = SqliteResponseStore(conn, lock)
        self._response_events = SqliteResponseEventLog(conn, lock)
        self._batches = SqliteBatchStore(conn, lock)
        self._tasks = SqliteTaskStore(conn, lock, clock)
        self._usage = SqliteUsageStore(conn, lock)

    @classmethod
    def open(cls, path: str, *, clock: Callable[[], float]) -> SqliteDatabase:
        """Connect to `path` (":memory:" for a private in-memory database) and migrate it."""
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise StorageError(
                f"cannot open database {path}: directory {Path(path).parent} does not exist"
            )
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                # WAL makes NORMAL durable against application crashes; only a power
                # loss can drop the last commits.
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, int(clock()))
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(f"cannot use database {path}: {exc}") from exc
        return cls(conn, clock)

    @property
    def keys(self) -> SqliteKeyStore:
        return self._keys

    @property
    def responses(self) -> SqliteResponseStore:
        return self._responses

    @property
    def batches(self) -> SqliteBatchStore:
        return self._batches

    @property
    def response_events(self) -> SqliteResponseEventLog:
        return self._response_events

    @property
    def tasks(self) -> SqliteTaskStore:
        return self._tasks

    @property
    def usage(self) -> SqliteUsageStore:
        return self._usage

    def close(self) -> None:
        self._usage.flush()
        self._conn.close()


def _row_to_key(row: tuple[Any, ...]) -> ApiKey:
    key_id, name, prefix, models, created_at, revoked_at, expires_at, rpm, tpm, budget = row
    return ApiKey(
        id=key_id,
        name=name,
        prefix=prefix,
        models=None if models is None else tuple(codec.decode_as(models, list[str])),
        created_at=created_at,
        revoked_at=revoked_at,
        limits=KeyLimits(expires_at=expires_at, rpm=rpm, tpm=tpm, token_budget=budget),
    )
