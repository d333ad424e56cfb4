"""The usage table and its migrations (the store is polyrelay.storage.usage)."""

from __future__ import annotations

from polyrelay.storage.dialect import SqlConnection

__all__ = ["create_usage_table", "keep_cache_write_1h"]


def create_usage_table(conn: SqlConnection) -> None:
    """Migration `0004_usage`."""
    conn.execute(
        """
        CREATE TABLE usage (
            id TEXT NOT NULL,
            key_id TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER NOT NULL,
            web_search_requests INTEGER NOT NULL,
            cost_usd REAL,
            status INTEGER NOT NULL,
            stream INTEGER NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX usage_by_key ON usage (key_id, created_at)")
    conn.execute("CREATE INDEX usage_by_time ON usage (created_at)")


def keep_cache_write_1h(conn: SqlConnection) -> None:
    """Migration `0014_usage_cache_write_1h` (PostgreSQL's `0006`): the part of a row's
    cache writes written for one hour, which `cost_usd` prices apart and the usage report
    shows. Rows from before it read 0: their split was not kept."""
    conn.execute("ALTER TABLE usage ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0")
