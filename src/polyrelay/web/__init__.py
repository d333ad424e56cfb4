"""HTTP endpoints beyond the three protocol routes (models, count_tokens, stored responses,
tasks). Each module exposes `routes(gateway) -> list[BaseRoute]` and may register start-up
and shut-down work on the gateway.

The helpers below are what those endpoints share: errors rendered by the frontend of the
client's protocol (Anthropic's when the request carries `anthropic-version`, else Chat
Completions', unless the endpoint belongs to one protocol), and an authenticated wrapper.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from polyrelay import codec
from polyrelay.context import new_id
from polyrelay.errors import GatewayError, InvalidRequestError, NotFoundError

if TYPE_CHECKING:
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
    "json_response",
    "unrouted",
    "with_request_id",
]

ANTHROPIC = "/v1/messages"
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"

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
    """The error as the frontend of `protocol` renders it."""
    status, body = gateway.frontends[protocol].encode_error(error)
    return Response(body, status, media_type="application/json")


def authenticated(gateway: Gateway, handler: Handler, protocol: str | None = None) -> Endpoint:
    """Authenticate, run, and render errors in `protocol`'s shape (default: the caller's)."""

    async def endpoint(request: Request) -> Response:
        try:
            key = await gateway.authenticator.authenticate(request.headers)
            return await handler(request, key)
        except GatewayError as error:
            return error_response(gateway, error, protocol or client_protocol(request.headers))

    return endpoint


def with_request_id(endpoint: Endpoint) -> Endpoint:
    """`request-id` (Anthropic's SDKs read it, errors included) and `x-request-id`
    (OpenAI's) on every answer, as the /v1/messages path sets them (pipeline/replies.py)."""

    async def answer(request: Request) -> Response:
        response = await endpoint(request)
        request_id = new_id("req_")
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
