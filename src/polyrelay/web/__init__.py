"""HTTP endpoints beyond the three protocol routes (models, count_tokens, stored responses,
tasks). Each module exposes `routes(gateway) -> list[BaseRoute]` and may register start-up
and shut-down work on the gateway.

The helpers below are what those endpoints share: errors rendered by the frontend of the
client's protocol (Anthropic's when the request carries `anthropic-version`, else Chat
Completions', unless the endpoint belongs to one protocol), an authenticated wrapper, and
the answer to an exception nothing expected (`failure_response`), which the protocol
routes (polyrelay.app) use too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from polyrelay import codec
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import (
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    internal_error,
)
from polyrelay.storage.unreachable import database_unreachable

if TYPE_CHECKING:
    from polyrelay.frontends import Frontend
    from polyrelay.pipeline import Gateway
    from polyrelay.storage import ApiKey

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "RESPONSES",
    "EndpointModule",
    "Handler",
    "authenticated",
    "client_protocol",
    "error_response",
    "failure_response",
    "json_response",
    "logged_unexpected",
    "unexpected_error",
    "unrouted",
    "with_request_id",
]

ANTHROPIC = "/v1/messages"
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"

log = logging.getLogger("polyrelay")

STORAGE_UNAVAILABLE = "The gateway's database is unavailable right now; retry shortly."

Handler = Callable[[Request, "ApiKey"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class EndpointModule(Protocol):
    def routes(self, gateway: Gateway) -> list[BaseRoute]: ...


def client_protocol(headers: Mapping[str, str]) -> str:
    """The frontend path whose error shape the client reads."""
    return ANTHROPIC if "anthropic-version" in headers else CHAT


def json_response(document: object, status: int = 200) -> Response:
    return Response(codec.encode(document), status, media_type="application/json")


def error_response(gateway: Gateway, error: GatewayError, protocol: str) -> Response:
    """The error as the frontend of `protocol` renders it, under a request id of its own,
    as the /v1/messages path answers (Gateway.error_response): in the `request-id` and
    `x-request-id` headers and, in Anthropic's body, as `request_id`."""
    return gateway.error_response(gateway.frontends[protocol], error, RequestContext())


def unexpected_error(exc: BaseException) -> GatewayError:
    """What the client is told of an exception no code path expected: a 503 to retry
    when the database is only out of reach (as an overloaded upstream is), else a 500."""
    if database_unreachable(exc):
        return GatewayError(STORAGE_UNAVAILABLE, status=503, retry_after="1")
    return internal_error()


def failure_response(
    gateway: Gateway,
    request: Request,
    frontend: Frontend,
    exc: BaseException,
    ctx: RequestContext | None = None,
) -> Response:
    """The answer, in `frontend`'s protocol, to an exception an endpoint did not expect
    (never Starlette's plain-text 500, which SDKs cannot parse), logged with the request
    id the client gets, so that an operator finds the one in the other."""
    ctx = ctx or RequestContext()
    where = f"{request.method} {request.url.path} ({ctx.request_id})"
    return gateway.error_response(frontend, logged_unexpected(exc, where), ctx)


def logged_unexpected(exc: BaseException, where: str) -> GatewayError:
    """`unexpected_error(exc)`, logged with `where` it happened: a 503 in one line (not a
    bug: no traceback for every request of an outage), a 500 with its traceback."""
    error = unexpected_error(exc)
    if error.status == 503:
        log.warning("database unavailable on %s: %r", where, exc)
    else:
        log.error("unhandled error on %s", where, exc_info=exc)
    return error


def authenticated(gateway: Gateway, handler: Handler, protocol: str | None = None) -> Endpoint:
    """Authenticate, run, and render errors in `protocol`'s shape (default: the caller's),
    an unexpected exception included (`failure_response`)."""

    async def endpoint(request: Request) -> Response:
        try:
            key = await gateway.authenticator.authenticate(request.headers)
            return await handler(request, key)
        except GatewayError as error:
            return error_response(gateway, error, protocol or client_protocol(request.headers))
        except Exception as exc:
            frontend = gateway.frontends[protocol or client_protocol(request.headers)]
            return failure_response(gateway, request, frontend, exc)

    return endpoint


def with_request_id(endpoint: Endpoint) -> Endpoint:
    """`request-id` (Anthropic's SDKs read it, errors included) and `x-request-id`
    (OpenAI's) on every answer, as the /v1/messages path sets them (pipeline/replies.py).
    An answer that has them already (`failure_response`'s, whose id is in the log) keeps them."""

    async def answer(request: Request) -> Response:
        response = await endpoint(request)
        request_id = response.headers.get("request-id") or new_id("req_")
        response.headers["request-id"] = request_id
        response.headers["x-request-id"] = request_id
        return response

    return answer


def unrouted(gateway: Gateway) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Starlette's handler for a path no route serves (404) or a method its route does not
    take (405): the error in the client's protocol, as the providers answer, instead of
    Starlette's plain-text one (which SDKs can only show as an unparsed body)."""

    async def handler(request: Request, exc: Exception) -> Response:
        where = f"{request.method} {request.url.path}"
        status = getattr(exc, "status_code", 404)
        error: GatewayError = NotFoundError(f"Invalid URL ({where})")
        if status == 405:
            error = InvalidRequestError(f"Method not allowed ({where})", status=405)
        response = error_response(gateway, error, client_protocol(request.headers))
        response.headers.update(getattr(exc, "headers", None) or {})  # 405's Allow
        return response

    return handler
