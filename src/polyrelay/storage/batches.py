"""Anthropic Message Batches on SQLite: a batch is a row and its requests are tasks.

Each request of a batch is a task of kind `batch` (run by the task worker exactly as an
`async: true` Messages request), tied to the batch by `(batch_id, custom_id)` in
`message_batch_requests`. A batch's state is derived from its tasks, never stored twice:
it has ended when none of them is pending or processing. Creating a batch is one
transaction (the batch, its tasks, its request rows), so a batch is never half there.
Every read is scoped to the key that made the batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from polyrelay import codec
from polyrelay.storage.dialect import ConnectionLock, SqlConnection, SqlCursor
from polyrelay.storage.tasks import insert_tasks
from polyrelay.storage.transaction import write_transaction
from polyrelay.tasks.model import NewTask, TaskError

__all__ = [
    "KEPT_SECONDS",
    "PURGE_CHUNK",
    "BatchRequestResult",
    "BatchRow",
    "BatchState",
    "SqlBatchStore",
    "create_batch_tables",
    "index_batches_by_creation",
    "index_requests_by_task",
]


class BatchRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    key_id: str
    created_at: float
    expires_at: float
    cancel_initiated_at: float | None = None


class BatchState(msgspec.Struct, frozen=True, kw_only=True):
    """The batch's tasks, counted by status; `ended_at` once every one has ended."""

    counts: dict[str, int]
    """Task status (or "missing" for a purged task) → how many."""
    ended_at: float | None


class BatchRequestResult(msgspec.Struct, frozen=True, kw_only=True):
    custom_id: str
    status: str
    """The task's status, or "missing" when it has been purged."""
    result: bytes | None
    error: TaskError | None
    request_id: str | None
    """The id its run had (None when purged), which an errored result carries."""


def create_batch_tables(conn: SqlConnection) -> None:
    """Migration `0009_message_batches`."""
    conn.execute(
        """
        CREATE TABLE message_batches (
            id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            cancel_initiated_at REAL
        )
        """
    )
    conn.execute("CREATE INDEX message_batches_by_key ON message_batches (key_id, created_at)")
    conn.execute(
        """
        CREATE TABLE message_batch_requests (
            batch_id TEXT NOT NULL REFERENCES message_batches (id) ON DELETE CASCADE,
            custom_id TEXT NOT NULL,
            task_id TEXT NOT NULL,
            PRIMARY KEY (batch_id, custom_id)
        ) WITHOUT ROWID
        """
    )


KEPT_SECONDS = 29 * 24 * 3600
"""Anthropic keeps a batch's results 29 days after its creation; so does the gateway, then
the task worker's purge deletes the batch, its request rows and their tasks (without it
they stayed until the client deleted the batch, forever for most)."""
PURGE_CHUNK = 500
"""Request rows (with their tasks) per purge transaction, as the responses' purge does;
the finished tasks' purge goes by as many tasks (TaskWorker)."""

_REQUESTS_PER_INSERT = 1000
"""Requests (tasks and request rows) per slice of a batch's insert."""
_TASKS_OF = "SELECT task_id FROM message_batch_requests WHERE batch_id = ?"
_OVERDUE_TASKS = (
    "SELECT r.task_id FROM message_batch_requests r"
    " JOIN message_batches b ON b.id = r.batch_id WHERE b.expires_at <= ?"
)


_PURGEABLE = (
    "SELECT b.id FROM message_batches b WHERE b.created_at < ?"
    " AND NOT EXISTS (SELECT 1 FROM message_batch_requests r JOIN tasks t ON t.id = r.task_id"
    " WHERE r.batch_id = b.id AND t.status = 'processing')"
)
"""Batches made before the cutoff (days, where a batch expires in 24 hours) that have
ended: a request of theirs not started can only end `expired` (a worker that claims one
ends it so), and none may still run."""


def index_requests_by_task(conn: SqlConnection) -> None:
    """Migration `0010_batch_requests_by_task` (PostgreSQL's `0002`): a worker that claims
    a batch request looks up its batch's expiry by the task id."""
    conn.execute("CREATE INDEX batch_requests_by_task ON message_batch_requests (task_id)")


def index_batches_by_creation(conn: SqlConnection) -> None:
    """Migration `0015_message_batches_by_created` (PostgreSQL's `0007`): the purge finds
    the batches made before its cutoff (`_PURGEABLE`) without reading every batch."""
    conn.execute("CREATE INDEX message_batches_by_created ON message_batches (created_at)")


class SqlBatchStore:
    def __init__(self, conn: SqlConnection, lock: ConnectionLock) -> None:
        self._conn = conn
        self._lock = lock

    def create(self, batch: BatchRow, requests: list[tuple[str, NewTask]]) -> None:
        """The batch, its tasks and their custom ids, in one transaction. A large batch
        takes seconds: call it with Database.call_off_loop.

        The rows go in slices: on PostgreSQL each slice is a round trip, where a store
        call gives the event loop back, so the rows of 100,000 requests are never all
        encoded on the loop's thread at once."""
        with self._lock, write_transaction(self._conn):
            self._conn.execute(
                "INSERT INTO message_batches (id, key_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (batch.id, batch.key_id, batch.created_at, batch.expires_at),
            )
            for start in range(0, len(requests), _REQUESTS_PER_INSERT):
                self._insert_requests(batch.id, requests[start : start + _REQUESTS_PER_INSERT])

    def _insert_requests(self, batch_id: str, requests: list[tuple[str, NewTask]]) -> None:
        insert_tasks(self._conn, [task for _, task in requests])
        self._conn.executemany(
            "INSERT INTO message_batch_requests (batch_id, custom_id, task_id) VALUES (?, ?, ?)",
            [(batch_id, custom_id, task.id) for custom_id, task in requests],
        )

    def get(self, batch_id: str, key_id: str) -> BatchRow | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, key_id, created_at, expires_at, cancel_initiated_at"
                " FROM message_batches WHERE id = ? AND key_id = ?",
                (batch_id, key_id),
            ).fetchone()
        return None if row is None else _batch(row)

    def page(
        self, key_id: str, limit: int, after_id: str | None, before_id: str | None
    ) -> list[BatchRow]:
        """Newest first; `after_id` pages to older batches, `before_id` to newer ones."""
        where, params = ["key_id = ?"], [key_id]
        order = "DESC"
        # A cursor is looked up among the key's own batches: another key's id pages as
        # an unknown one does (to nothing), instead of telling it exists and when.
        cursor = "(SELECT rowid FROM message_batches WHERE id = ? AND key_id = ?)"
        if after_id is not None:
            where.append(f"rowid < COALESCE({cursor}, 0)")
            params.extend([after_id, key_id])
        if before_id is not None:
            where.append(f"rowid > {cursor}")
            params.extend([before_id, key_id])
            order = "ASC"
        query = (
            "SELECT id, key_id, created_at, expires_at, cancel_initiated_at"  # noqa: S608
            f" FROM message_batches WHERE {' AND '.join(where)} ORDER BY rowid {order} LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(query, (*params, limit)).fetchall()
        batches = [_batch(row) for row in rows]
        return batches[::-1] if order == "ASC" else batches

    def state(self, batch_id: str) -> BatchState:
        """The batch ends when its last request does; requests that expired ended when
        the batch expired (as Anthropic's `ended_at` shows), not when the gateway
        noticed, which can be much later (no worker free, no read of the batch). So do
        purged ones, which read `expired` too: a batch whose tasks are all purged has
        still ended (else it would read in_progress again, with no results and no delete)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT COALESCE(t.status, 'missing'), COUNT(*), MAX(CASE"
                " WHEN t.status IS NULL OR t.status = 'expired' THEN b.expires_at"
                " ELSE t.finished_at END)"
                " FROM message_batch_requests r JOIN message_batches b ON b.id = r.batch_id"
                " LEFT JOIN tasks t ON t.id = r.task_id"
                " WHERE r.batch_id = ? GROUP BY 1",
                (batch_id,),
            ).fetchall()
        counts = {status: count for status, count, _ in rows}
        active = counts.get("pending", 0) + counts.get("processing", 0)
        finished = [when for _, _, when in rows if when is not None]
        ended_at = (max(finished) if finished else None) if active == 0 else None
        return BatchState(counts=counts, ended_at=ended_at)

    def results(self, batch_id: str) -> Iterator[BatchRequestResult]:
        """Every request's outcome, in custom_id order, a page at a time."""
        after = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT r.custom_id, COALESCE(t.status, 'missing'), t.result, t.error,"
                    " t.request_id"
                    " FROM message_batch_requests r LEFT JOIN tasks t ON t.id = r.task_id"
                    " WHERE r.batch_id = ? AND r.custom_id > ? ORDER BY r.custom_id LIMIT 500",
                    (batch_id, after),
                ).fetchall()
            for custom_id, status, result, error, request_id in rows:
                failure = codec.decode_as(error, TaskError) if error else None
                yield BatchRequestResult(
                    custom_id=custom_id,
                    status=status,
                    result=result,
                    error=failure,
                    request_id=request_id,
                )
            if len(rows) < 500:
                return
            after = rows[-1][0]

    def cancel(self, batch_id: str, now: float) -> list[str]:
        """Mark the batch canceling and cancel its pending and processing tasks; the ids
        of the running ones it cancelled, whose runs are to be stopped (each stops at its
        next heartbeat otherwise). Only those: a signal for each of 100,000 pending ones
        would stop nothing and hold the loop. Both times in whole seconds, as the tasks'
        are: the batch ends no earlier than the cancel."""
        with self._lock, write_transaction(self._conn):
            self._conn.execute(
                "UPDATE message_batches SET cancel_initiated_at = ?"
                " WHERE id = ? AND cancel_initiated_at IS NULL",
                (int(now), batch_id),
            )
            # Pending ones first: one claimed meanwhile (on PostgreSQL) is then running,
            # and cancelled and stopped with the running ones.
            self._cancel_tasks(batch_id, "pending", now)
            running = self._cancel_tasks(batch_id, "processing", now, " RETURNING id").fetchall()
        return [task_id for (task_id,) in running]

    def _cancel_tasks(self, batch_id: str, status: str, now: float, then: str = "") -> SqlCursor:
        return self._conn.execute(
            "UPDATE tasks SET status = 'cancelled', finished_at = ?,"  # noqa: S608
            f" lease_owner = NULL WHERE id IN ({_TASKS_OF}) AND status = ?{then}",
            (int(now), batch_id, status),
        )

    def expire_overdue(self, batch: BatchRow, now: float) -> int:
        """Anthropic's 24 hours: once `batch` is past `expires_at`, its requests that have
        not started end `expired` (one already running runs to its end). A batch with
        time left costs no statement, so reading it stays a read."""
        if batch.expires_at > now:
            return 0
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE tasks SET status = 'expired', finished_at = ?"  # noqa: S608
                f" WHERE status = 'pending' AND id IN ({_TASKS_OF})",
                (int(now), batch.id),
            )
        return cursor.rowcount

    def expire_claimed(self, task_id: str, now: float) -> bool:
        """True when `task_id`, just claimed, belongs to a batch past `expires_at`: it has
        then ended `expired` instead of running."""
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE tasks SET status = 'expired', finished_at = ?, lease_owner = NULL,"  # noqa: S608
                f" lease_until = NULL WHERE id = ? AND status = 'processing'"
                f" AND id IN ({_OVERDUE_TASKS} AND r.task_id = ?)",
                (int(now), task_id, now, task_id),
            )
        return cursor.rowcount == 1

    def purge(self, created_before: float, limit: int) -> int:
        """Delete up to `limit` request rows (and their tasks) of the ended batches made
        before `created_before`, then up to `limit` of those batches left with none; how
        many rows went, 0 once nothing is left. One short transaction: a batch of 100,000
        requests goes over many calls, never in one long write."""
        with self._lock, write_transaction(self._conn):
            requests = self._conn.execute(
                "SELECT batch_id, custom_id, task_id FROM message_batch_requests"  # noqa: S608
                f" WHERE batch_id IN ({_PURGEABLE}) LIMIT ?",
                (created_before, limit),
            ).fetchall()
            if requests:
                self._conn.executemany(
                    "DELETE FROM tasks WHERE id = ?", [(task,) for _, _, task in requests]
                )
                self._conn.executemany(
                    "DELETE FROM message_batch_requests WHERE batch_id = ? AND custom_id = ?",
                    [(batch, custom) for batch, custom, _ in requests],
                )
            batches = self._conn.execute(
                f"DELETE FROM message_batches WHERE id IN ({_PURGEABLE}"  # noqa: S608
                " AND NOT EXISTS (SELECT 1 FROM message_batch_requests r"
                " WHERE r.batch_id = b.id) LIMIT ?)",
                (created_before, limit),
            )
        return len(requests) + batches.rowcount

    def delete(self, batch_id: str) -> None:
        """The batch, its request rows and its tasks."""
        with self._lock, write_transaction(self._conn):
            self._conn.execute(
                f"DELETE FROM tasks WHERE id IN ({_TASKS_OF})",  # noqa: S608
                (batch_id,),
            )
            self._conn.execute("DELETE FROM message_batches WHERE id = ?", (batch_id,))


def _batch(row: tuple[object, ...]) -> BatchRow:
    batch_id, key_id, created_at, expires_at, cancel_initiated_at = row
    return BatchRow(
        id=str(batch_id),
        key_id=str(key_id),
        created_at=float(created_at),  # type: ignore[arg-type]
        expires_at=float(expires_at),  # type: ignore[arg-type]
        cancel_initiated_at=None if cancel_initiated_at is None else float(cancel_initiated_at),  # type: ignore[arg-type]
    )
