"""Per-key limits on SQLite: the counters behind `rpm`, `tpm` and `token_budget`.

A limited key's requests are counted per clock minute in `key_minutes` (one atomic
upsert per request, so several worker processes share one count); the tokens its requests
used are added to that minute's row and to the key's lifetime total in `key_tokens` by the
usage writer, in the transaction that records the usage rows. Tokens are therefore known a
moment after a request ends (the writer commits within about a second): the token limits
are soft, as every gateway's are, since a request's tokens are unknown until it is done.
Keys without limits touch none of this.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from polyrelay.storage.dialect import ConnectionLock, SqlConnection

__all__ = [
    "NO_LIMITS",
    "KeyLimits",
    "KeyWindow",
    "SqlKeyCounters",
    "add_counted_tokens",
    "create_key_limit_tables",
]

_KEEP_MINUTES = 5


class KeyLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What a key may do; None is no limit."""

    expires_at: int | None = None
    """Unix time from which the key is refused."""
    rpm: int | None = None
    """Requests per clock minute."""
    tpm: int | None = None
    """Tokens (input + output) per clock minute."""
    token_budget: int | None = None
    """Tokens over the key's lifetime."""

    @property
    def counted(self) -> bool:
        """Whether this key's requests must be counted."""
        return self.rpm is not None or self.counts_tokens

    @property
    def counts_tokens(self) -> bool:
        """Whether this key's tokens must be counted."""
        return self.tpm is not None or self.token_budget is not None


NO_LIMITS = KeyLimits()


class KeyWindow(msgspec.Struct, frozen=True, kw_only=True):
    requests: int
    """Requests of this minute, the one being admitted included."""
    minute_tokens: int
    total_tokens: int


def create_key_limit_tables(conn: SqlConnection) -> None:
    """Migration `0006_key_limits`."""
    for column in ("expires_at", "rpm", "tpm", "token_budget"):
        conn.execute(f"ALTER TABLE api_keys ADD COLUMN {column} INTEGER")
    conn.execute(
        """
        CREATE TABLE key_minutes (
            key_id TEXT NOT NULL,
            minute INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            PRIMARY KEY (key_id, minute)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        "CREATE TABLE key_tokens (key_id TEXT PRIMARY KEY, tokens INTEGER NOT NULL) WITHOUT ROWID"
    )


def add_counted_tokens(conn: SqlConnection, tokens: Mapping[tuple[str, int], int]) -> None:
    """Inside the usage writer's transaction: counted keys' tokens by (key id, minute)."""
    if not tokens:
        return
    # In key order, so two processes' writers lock the same rows in the same order
    # (PostgreSQL would otherwise abort one of them as a deadlock).
    rows = sorted((key_id, minute, count) for (key_id, minute), count in tokens.items())
    conn.executemany(
        "INSERT INTO key_minutes VALUES (?, ?, 0, ?) ON CONFLICT (key_id, minute)"
        " DO UPDATE SET tokens = key_minutes.tokens + excluded.tokens",
        rows,
    )
    conn.executemany(
        "INSERT INTO key_tokens VALUES (?, ?) ON CONFLICT (key_id)"
        " DO UPDATE SET tokens = key_tokens.tokens + excluded.tokens",
        [(key_id, tokens) for key_id, _, tokens in rows],
    )


class SqlKeyCounters:
    def __init__(self, conn: SqlConnection, lock: ConnectionLock) -> None:
        self._conn = conn
        self._lock = lock

    def admit(self, key_id: str, minute: int) -> KeyWindow:
        """Count one more request of `key_id` in `minute`; the counts after it. One
        statement (a round trip on PostgreSQL, that does not block the event loop), atomic
        without a transaction of its own."""
        with self._lock:
            (requests, minute_tokens, total) = self._conn.execute(
                "INSERT INTO key_minutes VALUES (?, ?, 1, 0) ON CONFLICT (key_id, minute)"
                " DO UPDATE SET requests = key_minutes.requests + 1 RETURNING requests, tokens,"
                " (SELECT tokens FROM key_tokens WHERE key_tokens.key_id = key_minutes.key_id)",
                (key_id, minute),
            ).fetchone()
            if requests == 1:  # a new minute: forget the old ones
                self._conn.execute(
                    "DELETE FROM key_minutes WHERE key_id = ? AND minute < ?",
                    (key_id, minute - _KEEP_MINUTES),
                )
        return KeyWindow(requests=requests, minute_tokens=minute_tokens, total_tokens=total or 0)

    def window(self, key_id: str, minute: int) -> KeyWindow:
        """The counts of `minute` and the key's lifetime tokens, counting nothing."""
        with self._lock:
            requests, minute_tokens, total = self._conn.execute(
                "SELECT (SELECT requests FROM key_minutes WHERE key_id = ? AND minute = ?),"
                " (SELECT tokens FROM key_minutes WHERE key_id = ? AND minute = ?),"
                " (SELECT tokens FROM key_tokens WHERE key_id = ?)",
                (key_id, minute, key_id, minute, key_id),
            ).fetchone()
        return KeyWindow(
            requests=requests or 0, minute_tokens=minute_tokens or 0, total_tokens=total or 0
        )

    def refund(self, key_id: str, minute: int) -> None:
        """Take back a request `admit` counted but a limit refused: it was never served."""
        with self._lock:
            self._conn.execute(
                "UPDATE key_minutes SET requests = requests - 1 WHERE key_id = ? AND minute = ?",
                (key_id, minute),
            )
