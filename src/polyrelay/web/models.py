"""GET /v1/models and /v1/models/{id}, in OpenAI's shape, or Anthropic's when the client
sends `anthropic-version` (anthropic-messages.md §5b: `created_at` an RFC 3339 string,
cursor pages by `limit` 1-1000 (default 20), `after_id`, `before_id`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from polyrelay import codec
from polyrelay.errors import InvalidRequestError, NotFoundError
from polyrelay.web import (
    ANTHROPIC,
    authenticated,
    client_protocol,
    json_response,
    with_request_id,
)

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway
    from polyrelay.providers import Route as ModelRoute
    from polyrelay.storage import ApiKey

__all__ = ["models_endpoint", "routes"]

_CREATED = 1_735_689_600  # models carry no creation time in the config; a fixed date
_CREATED_AT = "2025-01-01T00:00:00Z"
_DEFAULT_LIMIT = 20
_MAX_LIMIT = 1000


def _openai_model(name: str, owner: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": owner}


def _anthropic_model(route: ModelRoute) -> dict[str, object]:
    """The SDK's ModelInfo: `lifecycle` is required (every configured model is `active`);
    the limits come from the model's config when it has them."""
    name = route.public_model
    return {
        "type": "model",
        "id": name,
        "display_name": name,
        "created_at": _CREATED_AT,
        "lifecycle": "active",
        "max_input_tokens": route.model.context_window,
        "max_tokens": route.model.max_output_tokens,
    }


def _page(names: list[str], request: Request) -> list[str]:
    """The slice of `names` that `limit`, `after_id` and `before_id` select."""
    raw_limit = request.query_params.get("limit", str(_DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= _MAX_LIMIT:
        raise InvalidRequestError(
            f"limit: must be an integer between 1 and {_MAX_LIMIT}, got {raw_limit!r}",
            param="limit",
        )
    limit = int(raw_limit)
    after, before = request.query_params.get("after_id"), request.query_params.get("before_id")
    for field, cursor in (("after_id", after), ("before_id", before)):
        if cursor is not None and cursor not in names:
            raise InvalidRequestError(f"{field}: unknown model id {cursor!r}", param=field)
    if after is not None:
        return names[names.index(after) + 1 :][:limit]
    if before is not None:
        return names[: names.index(before)][-limit:]
    return names[:limit]


def _anthropic_list(routes: dict[str, ModelRoute], request: Request) -> bytes:
    names = list(routes)
    page = _page(names, request)
    more = bool(page) and (
        names.index(page[-1]) < len(names) - 1
        if "before_id" not in request.query_params
        else names.index(page[0]) > 0
    )
    return codec.encode(
        {
            "data": [_anthropic_model(routes[n]) for n in page],
            "has_more": more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
    )


def _visible(gateway: Gateway, key: ApiKey) -> dict[str, ModelRoute]:
    """Public model name → its route, for the models the key may use."""
    return {
        r.public_model: r
        for r in gateway.router.models()
        if key.models is None or r.public_model in key.models
    }


def models_endpoint(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request, key: ApiKey) -> Response:
        anthropic = client_protocol(request.headers) == ANTHROPIC
        routes = _visible(gateway, key)
        target = request.path_params.get("model_id")
        if target is not None:
            if target not in routes:
                raise _unknown_model(target, anthropic)
            route = routes[target]
            return json_response(
                _anthropic_model(route) if anthropic else _openai_model(target, route.provider.name)
            )
        if anthropic:
            return Response(_anthropic_list(routes, request), media_type="application/json")
        data = [_openai_model(n, r.provider.name) for n, r in routes.items()]
        return json_response({"object": "list", "data": data})

    return authenticated(gateway, handle)


def _unknown_model(name: str, anthropic: bool) -> NotFoundError:
    """Worded as each vendor words it (Anthropic: `model: NAME`)."""
    if anthropic:
        return NotFoundError(f"model: {name}", param="model")
    message = f"The model '{name}' does not exist"
    return NotFoundError(message, param="model", code="model_not_found")


def routes(gateway: Gateway) -> list[BaseRoute]:
    endpoint = with_request_id(models_endpoint(gateway))
    return [
        Route("/v1/models", endpoint, methods=["GET"]),
        Route("/v1/models/{model_id:path}", endpoint, methods=["GET"]),
    ]
