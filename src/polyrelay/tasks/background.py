"""`background: true` on /v1/responses: OpenAI's own form of the async task mode.

The task's id is the response id (`resp_` + the request id's suffix, as the Responses
frontend derives it), so `GET /v1/responses/{id}` and `POST /v1/responses/{id}/cancel`
find both. The ResponseStore holds the client's view: `queued` at submission (committed
in one transaction with the task, polyrelay.storage.submission), then `in_progress`,
then what the synchronous call stored (`completed`/`incomplete`), or `failed` with the
error, or `cancelled`. The body runs without `background`, so the final Response is
patched back to `background: true`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.frontends.openai_responses.encode import response_id, response_shell
from polyrelay.storage import ApiKey, ResponseStore, StoredResponse
from polyrelay.tasks.model import Task, TaskError

__all__ = [
    "error_code",
    "finish_response",
    "mark_promised",
    "promised",
    "queued_response",
    "set_status",
    "unstored",
]


def queued_response(
    frontend: OpenAIResponsesFrontend,
    body: bytes,
    key: ApiKey,
    ctx: RequestContext,
    admit: Callable[[str], None],
) -> StoredResponse:
    """Validate the request and `admit` its model; its `queued` Response, which the
    service commits with the task (storage.submission). A store call: the decode may
    read the history of previous_response_id."""
    chat, options = frontend.decode_with_options(body, ctx)
    if not options.store:
        raise InvalidRequestError("background: true requires store: true", param="store")
    ctx.model = chat.model
    admit(chat.model)
    resp_id = response_id(ctx, options)
    shell: JSONObject = msgspec.to_builtins(response_shell(ctx, options, "queued", resp_id))
    shell["background"] = True
    return StoredResponse(
        id=resp_id,
        key_id=key.id,
        created_at=ctx.created,
        status="queued",
        previous_response_id=options.previous_response_id,
        response=shell,
        input_items=[msgspec.to_builtins(item) for item in options.input_items],
    )


def set_status(
    store: ResponseStore, task: Task, status: str, error: TaskError | None = None
) -> bool:
    """Move the stored Response to `in_progress`, `failed` or `cancelled`; False when
    it is gone (deleted) or was cancelled."""
    record = store.get(task.id, task.key.id)
    if record is None:
        return False
    response: dict[str, Any] = dict(record.response)
    response["status"] = status
    if error is not None:
        response["error"] = {"code": error_code(error), "message": error.message}
    return store.update_status(task.id, task.key.id, status, response=response)


def promised(result: bytes, response_id: str) -> bytes:
    """The synchronous call's Response as the background response it ends: the id
    promised at submission (the fast path relays the upstream's own) and `background:
    true`. The task keeps this as its result, so `GET /v1/tasks/{id}` and the webhook
    carry the Response that `GET /v1/responses/{id}` returns."""
    response = _promised_document(result, response_id)
    return result if response is None else codec.encode(response)


def _promised_document(result: bytes, response_id: str) -> dict[str, Any] | None:
    """`promised` as a decoded document; None when `result` is no JSON object."""
    response = codec.decode(result)
    if not isinstance(response, dict):
        return None
    mark_promised(response, response_id)
    return response


def mark_promised(response: dict[str, Any], response_id: str) -> None:
    """Make a Response of the run (`unstored`) the background response promised at
    submission: its id, `background: true` and `store: true`."""
    response["id"] = response_id
    response["background"] = True
    response["store"] = True


def unstored(body: bytes) -> bytes:
    """A background response's body as its run sends it: `store: false`. The task
    stores the response itself, under the id promised at submission (finish_response,
    set_status); a copy stored by the call would be one more response for the key, on
    the fast path (an openai-responses upstream) under the upstream's id."""
    document = codec.decode(body)
    if isinstance(document, dict):
        document["store"] = False
        return codec.encode(document)
    return body


def finish_response(store: ResponseStore, task: Task, result: bytes) -> None:
    """Store the synchronous call's Response as the background response's final state."""
    response = _promised_document(result, task.id)  # decoded once, not encoded again
    if response is None:
        return
    status = str(response.get("status") or "completed")
    output = response.get("output")
    items = output if isinstance(output, list) else None
    store.update_status(task.id, task.key.id, status, response=response, output_items=items)


def error_code(error: TaskError) -> str:
    if error.status == 429:
        return "rate_limit_exceeded"
    return "server_error" if error.status >= 500 else "invalid_prompt"
