"""Stored OpenAI Responses: `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}` and
`GET /v1/responses/{id}/input_items`; and `POST /v1/responses/input_tokens`.

Each reads the database's ResponseStore for the authenticated key only: another key's
response is a 404, indistinguishable from an unknown id. Errors use OpenAI's body.

`input_tokens` counts the input a `POST /v1/responses` with the same body would send
(with the history of its `previous_response_id` and after its `truncation`), by the
estimate Messages' count_tokens gives upstreams that cannot count (characters / 4, 1600
per image or binary file), flagged in `polyrelay-warnings`: no upstream type counts a
Responses input exactly, and the same estimate on every path keeps the answers comparable.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, NotFoundError, UnsupportedError
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.pipeline.handler import log_request, read_body, response_headers
from polyrelay.pipeline.stored_logprobs import includes_logprobs, response_without_logprobs
from polyrelay.pipeline.stored_soon import found_again, looking_again
from polyrelay.storage import ApiKey
from polyrelay.storage.retention import ResponseRetention
from polyrelay.tasks.service import TaskService
from polyrelay.web import RESPONSES, Handler, authenticated, json_response
from polyrelay.web.count_tokens import CHARS_PER_TOKEN, estimate_tokens

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["routes"]

_MAX_LIMIT = 100
_MAX_SEQUENCE = 2**62
"""Bigger `starting_after` values mean the same (after every event) and fit SQLite."""


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")


def _retrieve(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        response_id = request.path_params["response_id"]
        query = request.query_params
        database = gateway.database
        record = await found_again(
            lambda: database.call(database.responses.get, response_id, key.id)
        )
        if record is None:
            raise _not_found(response_id)
        logprobs = includes_logprobs(query)
        if query.get("stream") in ("true", "1"):
            if gateway.tasks is None:
                raise UnsupportedError(
                    "streaming a stored response needs the async task mode", param="stream"
                )
            after = _starting_after(query.get("starting_after"))
            # A stream that may last as long as its run: logged at its end, as a POST's.
            started = time.perf_counter()
            ctx = RequestContext(key_id=key.id)
            model = record.response.get("model")
            ctx.model = model if isinstance(model, str) else ""
            reply = await gateway.tasks.stream_response(response_id, key, after, logprobs=logprobs)
            log_request(request, reply, ctx, started)
            return reply
        return json_response(
            record.response if logprobs else response_without_logprobs(record.response)
        )

    return handle


def _delete(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        response_id = request.path_params["response_id"]
        database = gateway.database
        if isinstance(gateway.tasks, TaskService):  # a background response's run stops
            await gateway.tasks.withdraw_response(response_id, key)
        if not await found_again(
            lambda: database.call(database.responses.delete, response_id, key.id)
        ):
            raise _not_found(response_id)
        return json_response({"id": response_id, "object": "response", "deleted": True})

    return handle


def _starting_after(value: str | None) -> int:
    """The sequence number to stream after; -1 (from the first event) when absent."""
    if value is None:
        return -1
    if not value.isdigit():
        raise InvalidRequestError(
            f"starting_after must be a non-negative integer, got {value!r}",
            param="starting_after",
        )
    return min(int(value), _MAX_SEQUENCE)


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    if not value.isdigit() or not 1 <= int(value) <= _MAX_LIMIT:
        raise InvalidRequestError(
            f"limit must be an integer from 1 to {_MAX_LIMIT}, got {value!r}", param="limit"
        )
    return int(value)


def _order(value: str | None) -> Literal["asc", "desc"]:
    if value is None or value == "desc":
        return "desc"
    if value == "asc":
        return "asc"
    raise InvalidRequestError(f"order must be 'asc' or 'desc', got {value!r}", param="order")


def _input_items(gateway: Gateway) -> Handler:
    async def handle(request: Request, key: ApiKey) -> Response:
        response_id = request.path_params["response_id"]
        query = request.query_params
        database = gateway.database
        after, limit, order = (
            query.get("after"),
            _limit(query.get("limit")),
            _order(query.get("order")),
        )
        page = await found_again(
            lambda: database.call(
                database.responses.input_items,
                response_id,
                key.id,
                after=after,
                limit=limit,
                order=order,
            )
        )
        if page is None:
            raise _not_found(response_id)
        items = page.items
        return json_response(
            {
                "object": "list",
                "data": items,
                "first_id": items[0].get("id") if items else None,
                "last_id": items[-1].get("id") if items else None,
                "has_more": page.has_more,
            }
        )

    return handle


def _input_tokens(gateway: Gateway) -> Handler:
    frontend = gateway.frontends[RESPONSES]
    assert isinstance(frontend, OpenAIResponsesFrontend)

    async def handle(request: Request, key: ApiKey) -> Response:
        ctx = RequestContext(key_id=key.id)
        body = await read_body(request, gateway.settings.max_body_bytes)
        # It may read the stored history of previous_response_id: off the event loop, and
        # once more when another process has not committed that response yet.
        chat, _ = await looking_again(
            lambda: gateway.database.call(frontend.decode_with_options, body, ctx)
        )
        ctx.model = chat.model
        gateway.route_for(key, chat.model)
        ctx.warn(f"input_tokens is an estimate (characters / {CHARS_PER_TOKEN})")
        count = estimate_tokens(chat)
        document = {"object": "response.input_tokens", "input_tokens": count}
        return Response(codec.encode(document), 200, response_headers(ctx), "application/json")

    return handle


def routes(gateway: Gateway) -> list[BaseRoute]:
    database = gateway.database
    retention = ResponseRetention(
        database.responses,
        gateway.settings.responses.retention_seconds,
        time.time,
        call=database.call,
    )
    gateway.on_startup.append(retention.start)
    gateway.on_shutdown.append(retention.stop)
    return [
        Route(
            "/v1/responses/input_tokens",
            authenticated(gateway, _input_tokens(gateway), RESPONSES),
            methods=["POST"],
        ),
        Route(
            "/v1/responses/{response_id}",
            authenticated(gateway, _retrieve(gateway), RESPONSES),
            methods=["GET"],
        ),
        Route(
            "/v1/responses/{response_id}",
            authenticated(gateway, _delete(gateway), RESPONSES),
            methods=["DELETE"],
        ),
        Route(
            "/v1/responses/{response_id}/input_items",
            authenticated(gateway, _input_items(gateway), RESPONSES),
            methods=["GET"],
        ),
    ]
