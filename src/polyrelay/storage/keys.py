"""Client API keys on SQL (the `KeyStore` protocol): only a hash of each secret is kept."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from polyrelay import codec
from polyrelay.auth import generate_secret, hash_secret
from polyrelay.storage import ApiKey
from polyrelay.storage.dialect import ConnectionLock, SqlConnection
from polyrelay.storage.key_limits import NO_LIMITS, KeyLimits, KeyWindow, SqlKeyCounters

__all__ = ["SqlKeyStore", "create_api_keys", "mark_demo_keys"]

_KEY_COLUMNS = (
    "id, name, prefix, models, created_at, revoked_at, expires_at, rpm, tpm, token_budget, demo"
)
_PREFIX_LENGTH = 10


def create_api_keys(conn: SqlConnection) -> None:
    """Migration `0001_api_keys`."""
    conn.execute(
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            models TEXT,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        )
        """
    )


def mark_demo_keys(conn: SqlConnection) -> None:
    """Migration `0012_demo_keys` (PostgreSQL's `0004`): whether `serve` made the key as its
    demo key (ApiKey.demo). Keys from before it count as the operator's: a name cannot tell
    an operator's key named demo from the demo key, so none is revoked for its name."""
    conn.execute("ALTER TABLE api_keys ADD COLUMN demo INTEGER NOT NULL DEFAULT 0")


class SqlKeyStore:
    def __init__(
        self, conn: SqlConnection, lock: ConnectionLock, clock: Callable[[], float]
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self._counters = SqlKeyCounters(conn, lock)

    def get_by_hash(self, digest: str) -> ApiKey | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?",  # noqa: S608
                (digest,),
            ).fetchone()
        return None if row is None else _row_to_key(row)

    def create(
        self,
        name: str,
        models: tuple[str, ...] | None,
        limits: KeyLimits = NO_LIMITS,
        *,
        demo: bool = False,
    ) -> tuple[ApiKey, str]:
        secret = generate_secret()
        key = ApiKey(
            id=f"key_{secrets.token_hex(8)}",
            name=name,
            prefix=secret[:_PREFIX_LENGTH],
            models=models,
            created_at=int(self._clock()),
            limits=limits,
            demo=demo,
        )
        stored_models = None if models is None else codec.encode_str(list(models))
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_keys (id, name, prefix, secret_hash, models, created_at,"
                " expires_at, rpm, tpm, token_budget, demo)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    int(demo),
                ),
            )
        return key, secret

    def admit(self, key_id: str, minute: int) -> KeyWindow:
        return self._counters.admit(key_id, minute)

    def refund(self, key_id: str, minute: int) -> None:
        self._counters.refund(key_id, minute)

    def window(self, key_id: str, minute: int) -> KeyWindow:
        return self._counters.window(key_id, minute)

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


def _row_to_key(row: tuple[Any, ...]) -> ApiKey:
    key_id, name, prefix, models, created_at, revoked_at, expires_at, rpm, tpm, budget, demo = row
    return ApiKey(
        id=key_id,
        name=name,
        prefix=prefix,
        models=None if models is None else tuple(codec.decode_as(models, list[str])),
        created_at=created_at,
        revoked_at=revoked_at,
        limits=KeyLimits(expires_at=expires_at, rpm=rpm, tpm=tpm, token_budget=budget),
        demo=bool(demo),
    )
