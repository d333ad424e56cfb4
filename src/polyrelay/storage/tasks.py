"""Async tasks and their webhook deliveries, on SQLite (the `TaskStore` protocol).

Every transition is one UPDATE guarded by the state it leaves (and, for a worker's own
transitions, by its lease), so two server processes on one database file can never both
claim, complete or cancel the same task; `completions` counts stored results and stays 1.
A task's end and its webhook delivery row are committed in one transaction, so a
delivery is never lost between the two. The claim is written as PostgreSQL would need it
(`UPDATE ... WHERE seq = (SELECT ... LIMIT 1) AND <claimable> RETURNING`); there, the
subquery gets `FOR UPDATE SKIP LOCKED`.

A task keeps a snapshot of the key that submitted it; a claim returns it with the key's
row as it is now (revocation, expiry), so the worker refuses the run of a key revoked
since (Authenticator.reauthenticate): one indexed read per attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from polyrelay import codec
from polyrelay.storage import STATIC_KEY_ID_PREFIX, ApiKey
from polyrelay.storage.dialect import ConnectionLock, Dialect, SqlConnection
from polyrelay.storage.transaction import write_transaction
from polyrelay.tasks.model import (
    FINAL_STATUSES,
    Delivery,
    NewTask,
    Task,
    TaskError,
    TaskKind,
    TaskStatus,
    task_object,
)

__all__ = ["SqlTaskStore", "insert_tasks"]

_COLUMNS = (
    "id, kind, key, endpoint, request_id, model, body, headers, callback_url, created_at,"
    " status, started_at, finished_at, attempts, result, error, completions"
)
_PENDING = "status = 'pending' AND not_before <= :now"
_EXPIRED = "status = 'processing' AND lease_until < :now"
"""A run whose lease ran out (its process died): claimable again."""
_CLAIMABLE = f"(({_PENDING}) OR ({_EXPIRED}))"
_ENDED = "(" + ", ".join(sorted(f"'{status.value}'" for status in FINAL_STATUSES)) + ")"
"""FINAL_STATUSES as an SQL list: the statuses the purge deletes."""


class SqlTaskStore:
    def __init__(
        self,
        conn: SqlConnection,
        lock: ConnectionLock,
        clock: Callable[[], float],
        dialect: Dialect,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self._skip_locked = dialect.skip_locked
        skip = dialect.skip_locked
        # The first claimable task in `seq` order, as the first pending one and the first
        # expired one, each found by walking tasks_claim_order (status, seq) from its
        # start: one OR of both made the databases collect every pending task and sort
        # them, 12 ms a claim on SQLite with 100,000 queued (a full Message Batch).
        # (`+not_before`: not by tasks_by_status, whose range on not_before SQLite would
        # pick, and sort everything in it.)
        pending = _PENDING.replace("not_before", "+not_before")
        self._claim_sql = (
            f"WITH pending AS (SELECT seq FROM tasks WHERE {pending} ORDER BY seq LIMIT 1{skip}),"  # noqa: S608
            f" expired AS (SELECT seq FROM tasks WHERE {_EXPIRED} ORDER BY seq LIMIT 1{skip})"
            " UPDATE tasks SET status = 'processing', lease_owner = :worker,"
            " lease_until = :until, attempts = attempts + 1, started_at = :started"
            " WHERE seq = (SELECT min(seq) FROM"
            " (SELECT seq FROM pending UNION ALL SELECT seq FROM expired) AS candidates)"
            f" AND {_CLAIMABLE} RETURNING {_COLUMNS}"
        )

    def enqueue(self, task: NewTask) -> None:
        with self._lock:
            insert_tasks(self._conn, [task])

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE id = ?",  # noqa: S608
                (task_id,),
            ).fetchone()
        return None if row is None else _row_to_task(row)

    def list(self, key_id: str | None, limit: int, after: str | None) -> list[Task]:
        where, params = ["kind != 'batch'"], []  # a batch's requests are listed by batch
        if key_id is not None:
            where.append("key_id = ?")
            params.append(key_id)
        if after is not None:
            # The cursor is looked up among the key's own tasks: another key's id must
            # page as an unknown one does (to nothing), not tell it exists and when.
            if key_id is None:
                where.append("seq < COALESCE((SELECT seq FROM tasks WHERE id = ?), 0)")
                params.append(after)
            else:
                cursor = "(SELECT seq FROM tasks WHERE id = ? AND key_id = ?)"
                where.append(f"seq < COALESCE({cursor}, 0)")
                params.extend([after, key_id])
        query = f"SELECT {_COLUMNS} FROM tasks WHERE {' AND '.join(where)}"  # noqa: S608
        with self._lock:
            rows = self._conn.execute(f"{query} ORDER BY seq DESC LIMIT ?", (*params, limit))
            return [_row_to_task(row) for row in rows.fetchall()]

    def claim(self, worker: str, lease_seconds: float) -> Task | None:
        now = self._clock()
        with self._lock:
            row = self._conn.execute(
                self._claim_sql,
                {"worker": worker, "until": now + lease_seconds, "now": now, "started": int(now)},
            ).fetchone()
            if row is None:
                return None
            task = _row_to_task(row)
            return msgspec.structs.replace(task, key=self._key_now(task.key))

    def _key_now(self, key: ApiKey) -> ApiKey:
        """`key` with its row's revocation and expiry as they are now (under the lock).
        A static key has no row: the config is its store."""
        if key.id.startswith(STATIC_KEY_ID_PREFIX):
            return key
        row = self._conn.execute(
            "SELECT revoked_at, expires_at FROM api_keys WHERE id = ?", (key.id,)
        ).fetchone()
        if row is None:  # keys are never deleted: one removed by hand must not run on
            return msgspec.structs.replace(key, revoked_at=key.revoked_at or int(self._clock()))
        revoked_at, expires_at = row
        limits = msgspec.structs.replace(key.limits, expires_at=expires_at)
        return msgspec.structs.replace(key, revoked_at=revoked_at, limits=limits)

    def renew(self, task_id: str, worker: str, lease_seconds: float) -> bool:
        return self._update(
            "SET lease_until = ?",
            (self._clock() + lease_seconds,),
            task_id,
            worker,
        )

    def complete(self, task_id: str, worker: str, result: bytes) -> bool:
        return self._finish(
            "SET status = 'success', result = ?, error = NULL, completions = completions + 1",
            (result,),
            task_id,
            worker,
        )

    def fail(self, task_id: str, worker: str, error: TaskError) -> bool:
        return self._finish(
            "SET status = 'failed', error = ?", (codec.encode_str(error),), task_id, worker
        )

    def retry(self, task_id: str, worker: str, not_before: float, error: TaskError) -> bool:
        return self._update(
            "SET status = 'pending', lease_owner = NULL, lease_until = NULL, not_before = ?,"
            " error = ?",
            (not_before, codec.encode_str(error)),
            task_id,
            worker,
        )

    def cancel(self, task_id: str) -> bool:
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE tasks SET status = 'cancelled', finished_at = ?, lease_owner = NULL"
                " WHERE id = ? AND status IN ('pending', 'processing')",
                (int(self._clock()), task_id),
            )
            if cursor.rowcount != 1:
                return False
            self._add_delivery(task_id)
        return True

    def delete(self, task_id: str, key_id: str) -> bool:
        with self._transaction():
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE id = ? AND key_id = ?",  # noqa: S608
                (task_id, key_id),
            ).fetchone()
            if row is None:
                return False
            # A webhook not yet delivered (the "cancelled" of a run the delete stopped)
            # is still owed to the client's receiver: it keeps the task object to send,
            # without the content the delete is for (result, error).
            deleted = msgspec.structs.replace(_row_to_task(row), result=None, error=None)
            self._conn.execute(
                "UPDATE task_webhooks SET body = ? WHERE task_id = ? AND status = 'pending'",
                (codec.encode_str(task_object(deleted)), task_id),
            )
            self._conn.execute(
                "DELETE FROM task_webhooks WHERE task_id = ? AND status != 'pending'", (task_id,)
            )
            self._conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
        return True

    def purge(self, finished_before: float, limit: int) -> int:
        """Delete up to `limit` tasks that ended before `finished_before` and have no
        webhook still to deliver, with their events and webhooks; how many tasks went. One
        short transaction: a backlog of 200,000 goes over many calls, never in one long
        write (the caller loops until a call deletes fewer than `limit`)."""
        purgeable = (
            f"status IN {_ENDED} AND finished_at < ?"  # noqa: S608  (constants only)
            " AND id NOT IN (SELECT task_id FROM task_webhooks WHERE status = 'pending')"
        )
        with self._transaction():
            purged = self._conn.execute(
                "DELETE FROM tasks WHERE id IN"  # noqa: S608
                f" (SELECT id FROM tasks WHERE {purgeable} LIMIT ?) RETURNING id",
                (finished_before, limit),
            ).fetchall()
            ids = [(row[0],) for row in purged]
            # A background streamed response's events go with its task; the response stays.
            self._conn.executemany("DELETE FROM response_events WHERE response_id = ?", ids)
            self._conn.executemany(
                "DELETE FROM task_webhooks WHERE task_id = ? AND status != 'pending'", ids
            )
            if len(ids) < limit:  # the last chunk: webhooks delivered after `delete` (one scan)
                self._conn.execute(
                    "DELETE FROM task_webhooks WHERE status != 'pending'"
                    " AND task_id NOT IN (SELECT id FROM tasks)"
                )
        return len(ids)

    def claim_delivery(self, worker: str, lease_seconds: float) -> Delivery | None:
        now = self._clock()
        due = (
            "status = 'pending' AND next_attempt_at <= :now"
            " AND (lease_until IS NULL OR lease_until < :now)"
        )
        with self._lock:
            row = self._conn.execute(
                "UPDATE task_webhooks SET lease_owner = :worker, lease_until = :until,"  # noqa: S608
                " attempts = attempts + 1 WHERE id = (SELECT id FROM task_webhooks"
                f" WHERE {due} ORDER BY next_attempt_at LIMIT 1{self._skip_locked}) AND {due}"
                " RETURNING id, task_id, url, attempts, body",
                {"worker": worker, "until": now + lease_seconds, "now": now},
            ).fetchone()
        if row is None:
            return None
        return Delivery(id=row[0], task_id=row[1], url=row[2], attempts=row[3], body=row[4])

    def delivery_done(self, delivery_id: str, worker: str, error: str | None) -> None:
        # A delivery made after failed attempts keeps no error: a row that said both
        # delivered and HTTP 500 read as a failure. One given up keeps the error of its
        # last attempt, which is why it was given up, not that of the attempt before.
        status = "delivered" if error is None else "failed"
        with self._lock:
            self._conn.execute(
                "UPDATE task_webhooks SET status = ?, last_error = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                (status, error, delivery_id, worker),
            )

    def delivery_retry(self, delivery_id: str, worker: str, at: float, error: str) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE task_webhooks SET next_attempt_at = ?, last_error = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                (at, error, delivery_id, worker),
            )

    def secret(self, name: str, generate: Callable[[], str]) -> str:
        with self._lock:
            self._conn.execute(
                "INSERT INTO task_secrets VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, generate(), int(self._clock())),
            )
            row = self._conn.execute(
                "SELECT value FROM task_secrets WHERE name = ?", (name,)
            ).fetchone()
        value: str = row[0]
        return value

    def _update(self, assignments: str, values: tuple[Any, ...], task_id: str, worker: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE tasks {assignments}"
                " WHERE id = ? AND status = 'processing' AND lease_owner = ?",
                (*values, task_id, worker),
            )
        return cursor.rowcount == 1

    def _finish(self, assignments: str, values: tuple[Any, ...], task_id: str, worker: str) -> bool:
        """End a task this worker holds and queue its webhook, in one transaction."""
        with self._transaction():
            cursor = self._conn.execute(
                f"UPDATE tasks {assignments}, finished_at = ?, lease_owner = NULL,"
                " lease_until = NULL WHERE id = ? AND status = 'processing' AND lease_owner = ?",
                (*values, int(self._clock()), task_id, worker),
            )
            if cursor.rowcount != 1:
                return False
            self._add_delivery(task_id)
        return True

    def _add_delivery(self, task_id: str) -> None:
        self._conn.execute(
            "INSERT INTO task_webhooks (id, task_id, url, status, next_attempt_at, created_at)"
            " SELECT ?, id, callback_url, 'pending', ?, ? FROM tasks"
            " WHERE id = ? AND callback_url IS NOT NULL",
            (f"msg_{secrets.token_hex(12)}", self._clock(), int(self._clock()), task_id),
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, write_transaction(self._conn):
            yield


def insert_tasks(conn: SqlConnection, tasks: list[NewTask]) -> None:
    """Insert new pending tasks (in the caller's transaction, if any)."""
    conn.executemany(
        "INSERT INTO tasks (id, kind, key_id, key, endpoint, request_id, model, body,"
        " headers, callback_url, created_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
        [
            (
                task.id,
                str(task.kind),
                task.key.id,
                codec.encode_str(task.key),
                task.endpoint,
                task.request_id,
                task.model,
                task.body,
                codec.encode_str(task.headers),
                task.callback_url,
                task.created_at,
            )
            for task in tasks
        ],
    )


def _row_to_task(row: tuple[Any, ...]) -> Task:
    (task_id, kind, key, endpoint, request_id, model, body, headers, callback_url) = row[:9]
    (created_at, status, started_at, finished_at, attempts, result, error, completions) = row[9:]
    return Task(
        id=task_id,
        kind=TaskKind(kind),
        key=codec.decode_as(key, ApiKey),
        endpoint=endpoint,
        request_id=request_id,
        model=model,
        body=bytes(body),
        headers=codec.decode_as(headers, dict[str, str]),
        callback_url=callback_url,
        created_at=created_at,
        status=TaskStatus(status),
        started_at=started_at,
        finished_at=finished_at,
        attempts=attempts,
        result=None if result is None else bytes(result),
        error=None if error is None else codec.decode_as(error, TaskError),
        completions=completions,
    )
