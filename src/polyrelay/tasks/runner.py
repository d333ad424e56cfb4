"""Running one task: the same `Gateway.dispatch` a synchronous call goes through.

The worker's RequestContext carries the task's request id and creation time, so ids the
frontends derive from them (the Responses `resp_…` id) are the ones promised at submission.
An error ends the task when it is final (400, 401, 403, 404, 413, 422 and the rest of the
4xx) and is retried when it is not (429, 5xx, 529, network).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import msgspec

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.frontends import Frontend
from polyrelay.storage.unreachable import database_unreachable
from polyrelay.tasks.model import Task, TaskError

if TYPE_CHECKING:
    from starlette.responses import Response

    from polyrelay.pipeline import Gateway

__all__ = [
    "CRASHED",
    "RETRYABLE_STATUSES",
    "Outcome",
    "crashed",
    "dispatch_task",
    "error_of",
    "refused_outcome",
    "run_task",
]

log = logging.getLogger("polyrelay.tasks")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
CRASHED = TaskError(
    type="api_error",
    message="The gateway hit an internal error running this task; see its log.",
    status=500,
)
_NO_DATABASE = TaskError(
    type="api_error", message="The gateway's database was unavailable during the run.", status=503
)


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    result: bytes | None = None
    """The synchronous call's JSON body, on success."""
    error: TaskError | None = None
    retryable: bool = False
    retry_after: float | None = None
    """Seconds the upstream asked to wait (`retry-after`), when it did."""


def crashed(exc: BaseException, what: str) -> Outcome:
    """The outcome of a run (`what`: "task t_1") that raised `exc`, logged: retried when
    the database was only out of reach (a PostgreSQL restart), since the task is not at
    fault, and logged in one line (the loops log the outage itself); else failed, a bug,
    logged with its traceback."""
    if database_unreachable(exc):
        log.warning("%s: the database was out of reach during the run (%s); retried", what, exc)
        return Outcome(error=_NO_DATABASE, retryable=True, retry_after=1.0)
    log.error("%s crashed", what, exc_info=exc)
    return Outcome(error=CRASHED)


def error_of(frontend: Frontend, error: GatewayError) -> TaskError:
    """The error as the client's protocol names it, with the upstream's status."""
    kind = error.kind
    _, body = frontend.encode_error(error)
    try:
        document = codec.decode(body)
        kind = str(document["error"]["type"])
    except (codec.DecodeError, KeyError, TypeError):
        pass
    return TaskError(type=kind, message=error.message, status=error.status)


def task_context(task: Task) -> RequestContext:
    ctx = RequestContext(model=task.model, key_id=task.key.id)
    ctx.request_id = task.request_id
    ctx.created = task.created_at
    return ctx


def refused_outcome(frontend: Frontend, error: GatewayError) -> Outcome:
    """A run that ended in `error`: final, or retried when its status says so."""
    return Outcome(
        error=error_of(frontend, error),
        retryable=error.status in RETRYABLE_STATUSES,
        retry_after=_seconds(error.retry_after),
    )


async def dispatch_task(gateway: Gateway, task: Task) -> Response | Outcome:
    """The task's call through the gateway; an Outcome when it failed before answering."""
    frontend = gateway.frontends.get(task.endpoint)
    if frontend is None:
        message = f"the endpoint {task.endpoint} is no longer served"
        return Outcome(error=TaskError(type="api_error", message=message, status=500))
    ctx = task_context(task)
    try:
        return await gateway.dispatch(frontend, task.body, task.key, ctx, task.headers)
    except GatewayError as error:
        return refused_outcome(frontend, error)
    except Exception as exc:
        return crashed(exc, f"task {task.id}")


async def run_task(gateway: Gateway, task: Task) -> Outcome:
    response = await dispatch_task(gateway, task)
    if isinstance(response, Outcome):
        return response
    body = getattr(response, "body", None)  # a StreamingResponse has none
    if not isinstance(body, bytes):
        message = "a task cannot hold a streamed response"
        return Outcome(error=TaskError(type="api_error", message=message, status=500))
    return Outcome(result=body)


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
