"""GET /v1/models, in OpenAI's shape, or Anthropic's when the client sends anthropic-version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from polyrelay import codec
from polyrelay.errors import GatewayError

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["models_endpoint", "routes"]

_CREATED = 1_735_689_600  # models carry no creation time in the config; a fixed date


def _openai_models(names: list[str], owners: dict[str, str]) -> bytes:
    data = [{"id": n, "object": "model", "created": _CREATED, "owned_by": owners[n]} for n in names]
    return codec.encode({"object": "list", "data": data})


def _anthropic_models(names: list[str]) -> bytes:
    data = [
        {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
        for n in names
    ]
    return codec.encode(
        {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    )


def _error_body(anthropic: bool, error: GatewayError) -> bytes:
    if anthropic:
        return codec.encode(
            {"type": "error", "error": {"type": error.kind, "message": error.message}}
        )
    return codec.encode(
        {
            "error": {
                "message": error.message,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key" if error.status == 401 else None,
            }
        }
    )


def models_endpoint(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        anthropic = "anthropic-version" in request.headers
        try:
            key = gateway.authenticator.authenticate(request.headers)
        except GatewayError as error:
            return Response(
                _error_body(anthropic, error), error.status, media_type="application/json"
            )
        routes = [
            r for r in gateway.router.models() if key.models is None or r.public_model in key.models
        ]
        names = [r.public_model for r in routes]
        if anthropic:
            return Response(_anthropic_models(names), media_type="application/json")
        owners = {r.public_model: r.provider.name for r in routes}
        return Response(_openai_models(names, owners), media_type="application/json")

    return endpoint


def routes(gateway: Gateway) -> list[BaseRoute]:
    return [Route("/v1/models", models_endpoint(gateway), methods=["GET"])]
