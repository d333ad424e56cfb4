"""What a task is: its stored record, its states and the task object clients see.

States: `pending` → `processing` → `success` | `failed`, and `cancelled` from either of the
first two; a Message Batch request that had not run when its batch expired ends `expired`.
A `processing` task whose lease expired (its server died) is claimable again; a retryable
failure sends it back to `pending` with a `not_before` time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from polyrelay import codec
from polyrelay.storage import ApiKey

__all__ = [
    "FINAL_STATUSES",
    "Delivery",
    "NewTask",
    "Task",
    "TaskError",
    "TaskKind",
    "TaskStatus",
    "task_object",
]


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    """Batch requests only: the batch's 24 hours ran out before the request ran."""


FINAL_STATUSES = frozenset(
    {TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}
)


class TaskKind(StrEnum):
    TASK = "task"
    """`async: true` on /v1/messages or /v1/chat/completions."""
    RESPONSE = "response"
    """`background: true` on /v1/responses; the task id is the response id."""
    BATCH = "batch"
    """One request of an Anthropic Message Batch (/v1/messages/batches)."""


class TaskError(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    message: str
    status: int
    """The upstream's HTTP status (or the gateway's, for errors of its own)."""


class NewTask(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: TaskKind
    key: ApiKey
    """The submitting key, as it was at submission (static keys have no database row)."""
    endpoint: str
    """The frontend's route path, e.g. /v1/messages."""
    request_id: str
    """The worker's RequestContext gets this id, so derived ids match the submission."""
    model: str
    body: bytes
    """The client's body without the async and callback fields."""
    headers: dict[str, str]
    callback_url: str | None
    created_at: int


class Task(NewTask, frozen=True, kw_only=True):
    status: TaskStatus
    started_at: int | None
    finished_at: int | None
    attempts: int
    result: bytes | None
    """The JSON body the synchronous call returned."""
    error: TaskError | None
    completions: int
    """How many times a result was stored: 1 for a finished task, whatever happened."""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One webhook message; `id` is the `webhook-id`, the same on every retry."""

    id: str
    task_id: str
    url: str
    attempts: int
    body: str | None = None
    """The task object to send, kept when the task was deleted before it was delivered;
    else None, and the task's own is sent."""


def task_object(task: Task) -> dict[str, Any]:
    """The task as clients see it (GET /v1/tasks/{id}, listings, webhook bodies)."""
    out: dict[str, Any] = {
        "id": task.id,
        "object": "task",
        "status": str(task.status),
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "model": task.model,
        "endpoint": task.endpoint,
        "attempts": task.attempts,
    }
    if task.callback_url is not None:
        out["callback_url"] = task.callback_url
    if task.result is not None:
        out["result"] = codec.decode(task.result)
    if task.error is not None:
        out["error"] = msgspec.to_builtins(task.error)
    return out
