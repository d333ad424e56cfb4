"""Schema migrations, and the SQLite database's list of them.

`MIGRATIONS` is append-only: each entry's name is recorded in `_migrations` once it has run,
and a released migration is never edited or reordered (add a new one instead). `migrate` runs
every pending migration in order, each in its own transaction, and is safe when several
processes start at once: on SQLite, `BEGIN IMMEDIATE` takes the write lock before reading
what has run; on PostgreSQL, each transaction first takes a transaction-scoped advisory
lock (`lock`), so it holds across a connection pooler that pools per transaction too,
where a session lock would be taken on one server connection and released on another.
PostgreSQL has its own list (polyrelay.storage.postgres_schema), which began at the schema
SQLite's list had reached.
"""

from __future__ import annotations

from collections.abc import Callable

from polyrelay.storage.batches import (
    create_batch_tables,
    index_batches_by_creation,
    index_requests_by_task,
)
from polyrelay.storage.dialect import SqlConnection
from polyrelay.storage.key_limits import create_key_limit_tables
from polyrelay.storage.keys import create_api_keys, mark_demo_keys
from polyrelay.storage.response_events import create_response_event_table
from polyrelay.storage.responses import (
    create_response_tables,
    index_by_creation,
    inline_input_items,
)
from polyrelay.storage.task_schema import (
    create_task_tables,
    index_claim_order,
    index_webhooks_by_task,
    keep_webhook_bodies,
)
from polyrelay.storage.usage_schema import create_usage_table, keep_cache_write_1h

__all__ = ["MIGRATIONS", "Migration", "migrate"]

Migration = Callable[[SqlConnection], None]


MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("0001_api_keys", create_api_keys),
    ("0002_responses", create_response_tables),
    ("0003_tasks", create_task_tables),
    ("0004_usage", create_usage_table),
    ("0005_inline_input_items", inline_input_items),
    ("0006_key_limits", create_key_limit_tables),
    ("0007_response_events", create_response_event_table),
    ("0008_responses_by_created", index_by_creation),
    ("0009_message_batches", create_batch_tables),
    ("0010_batch_requests_by_task", index_requests_by_task),
    ("0011_tasks_claim_order", index_claim_order),
    ("0012_demo_keys", mark_demo_keys),
    ("0013_webhook_bodies", keep_webhook_bodies),
    ("0014_usage_cache_write_1h", keep_cache_write_1h),
    ("0015_message_batches_by_created", index_batches_by_creation),
    ("0016_webhooks_by_task", index_webhooks_by_task),
)


def migrate(
    conn: SqlConnection,
    now: int,
    migrations: tuple[tuple[str, Migration], ...] = MIGRATIONS,
    *,
    lock: str | None = None,
) -> list[str]:
    """Apply pending migrations; returns the names applied. `conn` must be in autocommit
    mode; `lock` is a statement each transaction runs first, to wait for other migrators."""

    def create_ledger(conn: SqlConnection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations"
            " (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )

    _in_transaction(conn, lock, create_ledger)
    done_before = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied: list[str] = []
    for name, apply in migrations:
        if name in done_before:
            continue

        def step(conn: SqlConnection, name: str = name, apply: Migration = apply) -> None:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
            if done is None:
                apply(conn)
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now))
                applied.append(name)

        _in_transaction(conn, lock, step)
    return applied


def _in_transaction(conn: SqlConnection, lock: str | None, work: Migration) -> None:
    conn.execute("BEGIN IMMEDIATE")  # PostgresConnection runs it as BEGIN
    try:
        if lock is not None:
            conn.execute(lock)
        work(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
