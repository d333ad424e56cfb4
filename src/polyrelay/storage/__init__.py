"""Persistent stores behind small protocols, opened from the `database` URL in the settings.

`open_database` is the one constructor: the app and the CLI call it once and pass the stores
it exposes to whoever needs them. Every store method is synchronous and short (an indexed
lookup or a single-row write), so callers on the event loop call them directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import msgspec

__all__ = ["ApiKey", "Database", "KeyStore", "StorageError", "open_database"]


class StorageError(Exception):
    """The database cannot be opened or used; the message says what to fix."""


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    prefix: str
    """The first 10 characters of the secret, for telling keys apart in listings."""
    models: tuple[str, ...] | None = None
    """The public model names this key may use; None means every model."""
    created_at: int
    revoked_at: int | None = None


class KeyStore(Protocol):
    """Client API keys. Only a hash of each secret is stored; the secret exists once."""

    def get_by_hash(self, digest: str) -> ApiKey | None:
        """The key whose secret hashes to `digest`, revoked or not; None when unknown."""
        ...

    def create(self, name: str, models: tuple[str, ...] | None) -> tuple[ApiKey, str]:
        """A new key and its secret. The secret is not stored and cannot be shown again."""
        ...

    def revoke(self, key_id: str) -> bool:
        """Revoke an active key; False when no active key has that id."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...


class Database(Protocol):
    """One open database and the stores on it. Call `close` once, at shutdown."""

    @property
    def keys(self) -> KeyStore: ...

    def close(self) -> None: ...


def open_database(url: str, *, clock: Callable[[], float] = time.time) -> Database:
    """Open (creating and migrating as needed) the database at `url`.

    Accepted: `sqlite:///relative/path`, `sqlite:////absolute/path`, `sqlite:///:memory:`.
    """
    if url.startswith("sqlite:///"):
        from polyrelay.storage.sqlite import SqliteDatabase

        return SqliteDatabase.open(url.removeprefix("sqlite:///"), clock=clock)
    if url.startswith(("postgresql://", "postgres://")):
        raise StorageError(
            "PostgreSQL support arrives with the scale-out work; "
            "use database: sqlite:///polyrelay.db for now"
        )
    raise StorageError(
        f"unsupported database URL {url!r}: expected sqlite:///path/to/file.db "
        "(relative to the working directory) or sqlite:////absolute/path.db"
    )
