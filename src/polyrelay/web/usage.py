"""GET /v1/usage?since=YYYY-MM-DD&group_by=model|day|key: the calling key's own recorded
usage (polyrelay.pipeline.metering), one entry per group. Errors come in the caller's
protocol's shape (Anthropic's when it sends `anthropic-version`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from polyrelay.errors import InvalidRequestError
from polyrelay.storage.usage import GROUP_BY, parse_since
from polyrelay.web import authenticated, json_response

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway
    from polyrelay.storage import ApiKey

__all__ = ["routes"]

_PARAMS = frozenset({"since", "group_by"})


def routes(gateway: Gateway) -> list[BaseRoute]:
    async def flush() -> None:  # rows parked for the writer thread
        gateway.database.usage.flush()

    gateway.on_shutdown.append(flush)

    async def usage(request: Request, key: ApiKey) -> Response:
        query = request.query_params
        for name in query:
            if name not in _PARAMS:
                raise InvalidRequestError(
                    f"{name}: unknown query parameter; allowed: group_by, since", param=name
                )
        group_by = query.get("group_by", "model")
        if group_by not in GROUP_BY:
            raise InvalidRequestError(
                f"group_by: must be one of {', '.join(GROUP_BY)}, got {group_by!r}",
                param="group_by",
            )
        since_text = query.get("since")
        try:
            since = None if since_text is None else parse_since(since_text)
        except ValueError as exc:
            raise InvalidRequestError(f"since: {exc}", param="since") from None
        database = gateway.database
        groups = await database.call(
            database.usage.summary, group_by=group_by, key_id=key.id, since=since
        )
        data = [
            {
                "group": g.group,
                "requests": g.requests,
                "input_tokens": g.input_tokens,
                "output_tokens": g.output_tokens,
                "cache_read_tokens": g.cache_read_tokens,
                "cache_write_tokens": g.cache_write_tokens,
                "cache_write_1h_tokens": g.cache_write_1h_tokens,
                "reasoning_tokens": g.reasoning_tokens,
                "web_search_requests": g.web_search_requests,
                "cost_usd": g.cost_usd,
            }
            for g in groups
        ]
        return json_response({"object": "list", "data": data})

    return [Route("/v1/usage", authenticated(gateway, usage), methods=["GET"])]
