"""The tables of async tasks and their webhook deliveries, and their migrations (the
store is polyrelay.storage.tasks)."""

from __future__ import annotations

from polyrelay.storage.dialect import SqlConnection

__all__ = [
    "create_task_tables",
    "index_claim_order",
    "index_webhooks_by_task",
    "keep_webhook_bodies",
]


def create_task_tables(conn: SqlConnection) -> None:
    """Migration `0003_tasks`."""
    conn.execute(
        """
        CREATE TABLE tasks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            key_id TEXT NOT NULL,
            key TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            request_id TEXT NOT NULL,
            model TEXT NOT NULL,
            body BLOB NOT NULL,
            headers TEXT NOT NULL,
            callback_url TEXT,
            created_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            not_before REAL NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until REAL,
            started_at INTEGER,
            finished_at INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            result BLOB,
            error TEXT,
            completions INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX tasks_by_status ON tasks (status, not_before)")
    conn.execute("CREATE INDEX tasks_by_key ON tasks (key_id, seq)")
    conn.execute(
        """
        CREATE TABLE task_webhooks (
            id TEXT PRIMARY KEY,
            task_id TEXT NOT NULL,
            url TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            lease_owner TEXT,
            lease_until REAL,
            last_error TEXT,
            created_at INTEGER NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX task_webhooks_due ON task_webhooks (status, next_attempt_at)")
    conn.execute(
        "CREATE TABLE task_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL,"
        " created_at INTEGER NOT NULL)"
    )


def index_claim_order(conn: SqlConnection) -> None:
    """Migration `0011_tasks_claim_order` (PostgreSQL's `0003`): a claim walks the pending
    (or the expired) tasks in `seq` order and takes the first (SqlTaskStore.claim)."""
    conn.execute("CREATE INDEX tasks_claim_order ON tasks (status, seq)")


def keep_webhook_bodies(conn: SqlConnection) -> None:
    """Migration `0013_webhook_bodies` (PostgreSQL's `0005`): the task object a delivery
    sends once its task has been deleted (SqlTaskStore.delete)."""
    conn.execute("ALTER TABLE task_webhooks ADD COLUMN body TEXT")


def index_webhooks_by_task(conn: SqlConnection) -> None:
    """Migration `0016_webhooks_by_task` (PostgreSQL's `0008`): the purge deletes the
    webhooks of each chunk of tasks it deletes, and `delete` those of one task, by task
    id (SqlTaskStore.purge, .delete); without it, each read every webhook."""
    conn.execute("CREATE INDEX task_webhooks_by_task ON task_webhooks (task_id)")
