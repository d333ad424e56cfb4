"""Anthropic's Message Batches API, served by the async task mode on any upstream:
`POST /v1/messages/batches`, `GET /v1/messages/batches[/{id}]`, `POST …/{id}/cancel`,
`DELETE …/{id}` and `GET …/{id}/results` (JSONL), as the anthropic SDK's
`client.messages.batches` uses them.

Every request of a batch is validated at creation exactly as `POST /v1/messages` would
validate it (decode, model routing, the key's model list); a bad one refuses the whole
batch with a 400 naming `requests.N`. Then each runs as an `async: true` Messages task
(polyrelay.storage.batches), so its result is the body the synchronous call returns.
As at Anthropic, `request_counts` stay `processing` until the whole batch has ended.
A batch expires 24 hours after it was made, as at Anthropic: its requests that have not
started by then end `expired` (a worker that claims one later ends it instead of running
it; reading the batch ends the rest), and one already running runs to its end.
Results stay as long as their tasks (`tasks.retention_seconds`); a purged one is also
reported `expired`. The task worker's purge deletes a batch 29 days after its creation
(storage.batches.KEPT_SECONDS), as Anthropic's results go.

A batch's state is counted from its requests' tasks (0.07 s for 100,000 on SQLite), and
a cancel, a delete or an expiry writes each of them: every store call that touches a
batch's requests is made with `call_off_loop`, so the loop serves other requests
meanwhile. Only a page of results (500 lines) is read with `call`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from polyrelay import codec
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import GatewayError, InvalidRequestError, NotFoundError
from polyrelay.frontends import ReadsHeaders
from polyrelay.pipeline.handler import read_body
from polyrelay.storage import ApiKey
from polyrelay.storage.batches import BatchRequestResult, BatchRow, BatchState
from polyrelay.tasks.model import NewTask, TaskKind
from polyrelay.tasks.service import CALLBACK_FIELDS, TaskService
from polyrelay.web import ANTHROPIC, Handler, authenticated, json_response, with_request_id

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["routes"]

MAX_REQUESTS = 100_000
_EXPIRY_SECONDS = 24 * 3600
_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEPT_HEADERS = ("anthropic-version", "anthropic-beta")
_PAGE = 500
"""Result lines per store call and per write of the results file."""
_SLICE_SECONDS = 0.02
"""How long a batch's validation runs on the event loop before giving it back."""


def routes(gateway: Gateway) -> list[BaseRoute]:
    service = gateway.tasks
    assert isinstance(service, TaskService)  # polyrelay.web.tasks mounts it first
    base = "/v1/messages/batches"
    return [
        Route(base, _endpoint(gateway, _create(gateway, service)), methods=["POST"]),
        Route(base, _endpoint(gateway, _list(gateway)), methods=["GET"]),
        Route(base + "/{batch_id}", _endpoint(gateway, _retrieve(gateway)), methods=["GET"]),
        Route(base + "/{batch_id}", _endpoint(gateway, _delete(gateway)), methods=["DELETE"]),
        Route(
            base + "/{batch_id}/cancel",
            _endpoint(gateway, _cancel(gateway, service)),
            methods=["POST"],
        ),
        Route(base + "/{batch_id}/results", _endpoint(gateway, _results(gateway)), methods=["GET"]),
    ]


def _endpoint(gateway: Gateway, handler: Handler) -> Any:
    return with_request_id(authenticated(gateway, handler, ANTHROPIC))


def _create(gateway: Gateway, service: TaskService) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        await gateway.limiter.admit(key)
        body = await read_body(request, gateway.settings.max_body_bytes)
        headers = {name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers}
        # Whole seconds, as its tasks' times are: a batch that ends in the second it was
        # made must not read as ended before it was created.
        now = int(time.time())
        batch = BatchRow(
            id=new_id("msgbatch_"),
            key_id=key.id,
            created_at=now,
            expires_at=now + _EXPIRY_SECONDS,
        )
        requests = await _validated_requests(gateway, key, headers, body, now)
        database = gateway.database
        await database.call_off_loop(database.batches.create, batch, requests)
        service.announce_queued()
        # Just made, so every request is still to run: counting them in the database
        # would read the rows of up to 100,000 requests again, on the loop.
        state = BatchState(counts={"pending": len(requests)}, ended_at=None)
        return json_response(_batch_object(request, batch, state))

    return handle


async def _validated_requests(
    gateway: Gateway, key: ApiKey, headers: dict[str, str], body: bytes, now: int
) -> list[tuple[str, NewTask]]:
    """Each request's custom_id and task, validated as POST /v1/messages would validate
    it. Validating 100,000 takes more than a second: the loop is given back every
    _SLICE_SECONDS, so that the other requests of this process are served meanwhile."""
    seen: set[str] = set()
    validated = []
    slice_ends = time.monotonic() + _SLICE_SECONDS
    for index, raw_entry in enumerate(_entries(body)):
        where = f"requests.{index}"
        custom_id, params = _checked_entry(raw_entry, where, seen)
        raw = codec.encode(params)
        _validate(gateway, key, headers, raw, where)
        validated.append((custom_id, _task(key, headers, raw, params.get("model"), now)))
        if time.monotonic() >= slice_ends:
            await asyncio.sleep(0)
            slice_ends = time.monotonic() + _SLICE_SECONDS
    return validated


def _entries(body: bytes) -> list[msgspec.Raw]:
    """The batch's `requests`, a non-empty list of at most MAX_REQUESTS, each still
    undecoded. Decoded whole, the body of 100,000 held the loop for 0.3 s, and its 1.5
    million objects, alive until the end, made each full pass of the garbage collector
    take 0.1 s more; skipped over as Raw it takes 0.02 s, and _validated_requests
    decodes the requests one by one."""
    try:
        document = codec.decode_as(body, dict[str, msgspec.Raw])
        requests = codec.decode_as(document.get("requests", b"null"), list[msgspec.Raw])
    except msgspec.ValidationError:  # not an object, or its requests not a list
        requests = []
    except codec.DecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if not requests:
        raise InvalidRequestError("requests: a non-empty list is required", param="requests")
    if len(requests) > MAX_REQUESTS:
        message = f"requests: at most {MAX_REQUESTS} requests per batch"
        raise InvalidRequestError(message, param="requests")
    return requests


def _checked_entry(raw: msgspec.Raw, where: str, seen: set[str]) -> tuple[str, dict[str, Any]]:
    """The custom_id (new: added to `seen`) and params of the entry at `where`, whose
    params must be a request a batch can run."""
    entry = codec.decode(raw)
    if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
        raise InvalidRequestError(f"{where}: an object with custom_id and params is required")
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not _CUSTOM_ID.fullmatch(custom_id):
        message = f"{where}.custom_id: 1 to 64 letters, digits, '-' or '_' are required"
        raise InvalidRequestError(message)
    if custom_id in seen:
        raise InvalidRequestError(f"{where}.custom_id: {custom_id!r} is used twice")
    seen.add(custom_id)
    params: dict[str, Any] = entry["params"]
    if params.get("stream"):
        raise InvalidRequestError(f"{where}.params.stream: batches do not stream")
    for name in CALLBACK_FIELDS:  # else sent upstream, which refuses the unknown field
        if name in params:
            message = f"{where}.params.{name}: batch requests take no callback URL"
            raise InvalidRequestError(message + "; poll the batch for its results")
    return custom_id, params


def _validate(
    gateway: Gateway, key: ApiKey, headers: dict[str, str], raw: bytes, where: str
) -> None:
    frontend = gateway.frontends[ANTHROPIC]
    ctx = RequestContext(key_id=key.id)
    try:
        if isinstance(frontend, ReadsHeaders):
            frontend.note_headers(headers, ctx)
        chat = frontend.decode(raw, ctx)
        gateway.route_for(key, chat.model)
    except GatewayError as error:
        raise InvalidRequestError(f"{where}.params: {error.message}") from None


def _task(key: ApiKey, headers: dict[str, str], params: bytes, model: Any, now: int) -> NewTask:
    return NewTask(
        id=new_id("task_"),
        kind=TaskKind.BATCH,
        key=key,
        endpoint=ANTHROPIC,
        request_id=new_id("req_"),
        model=str(model or ""),
        body=params,
        headers=headers,
        callback_url=None,
        created_at=now,
    )


def _own_batch(gateway: Gateway, batch_id: str, key: ApiKey) -> BatchRow:
    """The key's batch, expired if it is overdue; else a 404. A store call."""
    batch = gateway.database.batches.get(batch_id, key.id)
    if batch is None:
        raise NotFoundError(f"No message batch with id {batch_id!r}.", param="message_batch_id")
    gateway.database.batches.expire_overdue(batch, time.time())
    return batch


async def _request_batch(gateway: Gateway, request: Request, key: ApiKey) -> BatchRow:
    """The batch the request's path names, which must be the key's."""
    batch_id = request.path_params["batch_id"]
    return await gateway.database.call_off_loop(_own_batch, gateway, batch_id, key)


def _retrieve(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        batch = await _request_batch(gateway, request, key)
        return await _rendered(gateway, request, batch)

    return handle


def _list(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        query = request.query_params
        limit_text = query.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            raise InvalidRequestError("limit must be from 1 to 1000", param="limit")
        limit = int(limit_text)
        after, before = query.get("after_id"), query.get("before_id")
        paged = await gateway.database.call_off_loop(_page, gateway, key, limit, after, before)
        rows, states, more = paged
        data = [_batch_object(request, r, s) for r, s in zip(rows, states, strict=True)]
        return json_response(
            {
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    return handle


def _page(
    gateway: Gateway, key: ApiKey, limit: int, after: str | None, before: str | None
) -> tuple[list[BatchRow], list[BatchState], bool]:
    """Up to `limit` of the key's batches, newest first, their states (overdue ones
    expired first), and whether there are more beyond them. A store call.

    One more row than `limit` is read to tell that there are more. It is the one
    farthest from the cursor: the last (oldest) when paging on to older batches, but the
    first (newest) when paging back to newer ones with `before_id`."""
    store = gateway.database.batches
    rows = store.page(key.id, limit + 1, after, before)
    more = len(rows) > limit
    rows = rows[-limit:] if before is not None else rows[:limit]
    now = time.time()
    for row in rows:
        store.expire_overdue(row, now)
    return rows, [store.state(row.id) for row in rows], more


def _cancel(gateway: Gateway, service: TaskService) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        database = gateway.database
        batch = await _request_batch(gateway, request, key)
        running = await database.call_off_loop(database.batches.cancel, batch.id, time.time())
        service.stop_runs(running)
        batch = await _request_batch(gateway, request, key)
        return await _rendered(gateway, request, batch)

    return handle


def _ended_batch(gateway: Gateway, batch_id: str, key: ApiKey, refusal: str) -> BatchRow:
    """The key's batch, which must have ended; else a 400 `refusal` (after the batch id).
    A store call."""
    batch = _own_batch(gateway, batch_id, key)
    if gateway.database.batches.state(batch.id).ended_at is None:
        raise InvalidRequestError(f"Message batch {batch.id} {refusal}")
    return batch


def _delete(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        refusal = "is still processing; cancel it and wait for it to end before deleting it."
        database = gateway.database
        batch_id = request.path_params["batch_id"]
        batch = await database.call_off_loop(_ended_batch, gateway, batch_id, key, refusal)
        await database.call_off_loop(database.batches.delete, batch.id)
        return json_response({"id": batch.id, "type": "message_batch_deleted"})

    return handle


def _results(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        refusal = "has not ended yet; its results are not ready."
        database = gateway.database
        batch_id = request.path_params["batch_id"]
        batch = await database.call_off_loop(_ended_batch, gateway, batch_id, key, refusal)
        return StreamingResponse(_result_lines(gateway, batch.id), media_type="application/binary")

    return handle


async def _result_lines(gateway: Gateway, batch_id: str) -> AsyncIterator[bytes]:
    """The results file, read a page at a time through store calls."""
    outcomes = gateway.database.batches.results(batch_id)
    while True:
        page = await gateway.database.call(_next_lines, outcomes)
        if not page:
            return
        yield page


def _next_lines(outcomes: Iterator[BatchRequestResult]) -> bytes:
    return b"".join(_result_line(outcome) for outcome in itertools.islice(outcomes, _PAGE))


def _result_line(outcome: BatchRequestResult) -> bytes:
    head = b'{"custom_id":' + codec.encode(outcome.custom_id) + b',"result":'
    if outcome.status == "success" and outcome.result is not None:
        return head + b'{"type":"succeeded","message":' + outcome.result + b"}}\n"
    if outcome.status == "failed" and outcome.error is not None:
        # The Anthropic error body, request_id included as on every other error the
        # gateway renders: the id the request's run had, so its log lines can be found.
        error = {"type": outcome.error.type, "message": outcome.error.message}
        body = {"type": "error", "error": error, "request_id": outcome.request_id}
        result: dict[str, Any] = {"type": "errored", "error": body}
    elif outcome.status == "cancelled":
        result = {"type": "canceled"}
    else:
        result = {"type": "expired"}
    return head + codec.encode(result) + b"}\n"


async def _rendered(gateway: Gateway, request: Request, batch: BatchRow) -> Response:
    state = await gateway.database.call_off_loop(gateway.database.batches.state, batch.id)
    return json_response(_batch_object(request, batch, state))


def _batch_object(request: Request, batch: BatchRow, state: BatchState) -> dict[str, Any]:
    counts, ended = state.counts, state.ended_at is not None
    total = sum(counts.values())
    if ended:
        status = "ended"
    else:
        status = "canceling" if batch.cancel_initiated_at is not None else "in_progress"
    base = str(request.base_url).rstrip("/")
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            "processing": 0 if ended else total,
            "succeeded": counts.get("success", 0) if ended else 0,
            "errored": counts.get("failed", 0) if ended else 0,
            "canceled": counts.get("cancelled", 0) if ended else 0,
            "expired": counts.get("expired", 0) + counts.get("missing", 0) if ended else 0,
        },
        "ended_at": _rfc3339(state.ended_at),
        "created_at": _rfc3339(batch.created_at),
        "expires_at": _rfc3339(batch.expires_at),
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
        "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
    }


def _rfc3339(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
