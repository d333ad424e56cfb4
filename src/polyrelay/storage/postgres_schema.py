"""PostgreSQL's migrations: append-only, as SQLite's (polyrelay.storage.migrations).

The first one creates the schema SQLite's migrations 0001 to 0009 had reached, with the
same tables and columns, so the stores run one SQL text on both. The differences: 64-bit
integers (BIGINT), DOUBLE PRECISION for SQLite's REAL, BYTEA for BLOB, BIGSERIAL for
SQLite's AUTOINCREMENT, and a `rowid` column where the stores order by SQLite's implicit
rowid (api_keys, message_batches). Batch results page by `custom_id`, in byte order as on
SQLite (collation "C").
"""

from __future__ import annotations

from polyrelay.storage.batches import index_batches_by_creation, index_requests_by_task
from polyrelay.storage.dialect import SqlConnection
from polyrelay.storage.keys import mark_demo_keys
from polyrelay.storage.migrations import Migration
from polyrelay.storage.task_schema import (
    index_claim_order,
    index_webhooks_by_task,
    keep_webhook_bodies,
)
from polyrelay.storage.usage_schema import keep_cache_write_1h

__all__ = ["POSTGRES_MIGRATIONS"]

_SCHEMA = (
    """
    CREATE TABLE api_keys (
        rowid BIGSERIAL NOT NULL,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        models TEXT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        expires_at BIGINT,
        rpm BIGINT,
        tpm BIGINT,
        token_budget BIGINT
    )
    """,
    """
    CREATE TABLE responses (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        previous_response_id TEXT,
        response TEXT NOT NULL,
        output_items TEXT NOT NULL,
        input_items TEXT NOT NULL DEFAULT '[]'
    )
    """,
    "CREATE INDEX responses_by_created ON responses (created_at)",
    """
    CREATE TABLE response_events (
        response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        frame BYTEA NOT NULL,
        last SMALLINT NOT NULL,
        PRIMARY KEY (response_id, seq)
    )
    """,
    """
    CREATE TABLE tasks (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        key_id TEXT NOT NULL,
        key TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        request_id TEXT NOT NULL,
        model TEXT NOT NULL,
        body BYTEA NOT NULL,
        headers TEXT NOT NULL,
        callback_url TEXT,
        created_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION,
        started_at BIGINT,
        finished_at BIGINT,
        attempts BIGINT NOT NULL DEFAULT 0,
        result BYTEA,
        error TEXT,
        completions BIGINT NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX tasks_by_status ON tasks (status, not_before)",
    "CREATE INDEX tasks_by_key ON tasks (key_id, seq)",
    """
    CREATE TABLE task_webhooks (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        url TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION,
        last_error TEXT,
        created_at BIGINT NOT NULL
    )
    """,
    "CREATE INDEX task_webhooks_due ON task_webhooks (status, next_attempt_at)",
    "CREATE TABLE task_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL,"
    " created_at BIGINT NOT NULL)",
    """
    CREATE TABLE usage (
        id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cache_read_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        web_search_requests BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION,
        status INTEGER NOT NULL,
        stream SMALLINT NOT NULL
    )
    """,
    "CREATE INDEX usage_by_key ON usage (key_id, created_at)",
    "CREATE INDEX usage_by_time ON usage (created_at)",
    """
    CREATE TABLE key_minutes (
        key_id TEXT NOT NULL,
        minute BIGINT NOT NULL,
        requests BIGINT NOT NULL,
        tokens BIGINT NOT NULL,
        PRIMARY KEY (key_id, minute)
    )
    """,
    "CREATE TABLE key_tokens (key_id TEXT PRIMARY KEY, tokens BIGINT NOT NULL)",
    """
    CREATE TABLE message_batches (
        rowid BIGSERIAL NOT NULL,
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        cancel_initiated_at DOUBLE PRECISION
    )
    """,
    "CREATE INDEX message_batches_by_key ON message_batches (key_id, created_at)",
    """
    CREATE TABLE message_batch_requests (
        batch_id TEXT NOT NULL REFERENCES message_batches (id) ON DELETE CASCADE,
        custom_id TEXT COLLATE "C" NOT NULL,
        task_id TEXT NOT NULL,
        PRIMARY KEY (batch_id, custom_id)
    )
    """,
)


def _create_schema(conn: SqlConnection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


POSTGRES_MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("0001_schema", _create_schema),
    ("0002_batch_requests_by_task", index_requests_by_task),
    ("0003_tasks_claim_order", index_claim_order),
    ("0004_demo_keys", mark_demo_keys),
    ("0005_webhook_bodies", keep_webhook_bodies),
    ("0006_usage_cache_write_1h", keep_cache_write_1h),
    ("0007_message_batches_by_created", index_batches_by_creation),
    ("0008_webhooks_by_task", index_webhooks_by_task),
)
