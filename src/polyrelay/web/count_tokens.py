"""POST /v1/messages/count_tokens: `{"input_tokens": N}` for any upstream type.

Exact where the upstream counts: an Anthropic upstream gets the client's body (model
replaced, anthropic-version and betas passed on, the messages as `/v1/messages` relays
them: thinking another provider signed left out, tool-call ids this gateway extended made
plain); a Gemini upstream answers
`:countTokens` for the decoded request. OpenAI Chat and Responses upstreams have no
counting endpoint, so the answer is an estimate, flagged in `polyrelay-warnings`:
one token per 4 characters (rounded up) of all text in the request — system, messages,
tool calls and results, reasoning, and each tool's name, description and JSON schema —
plus 1600 tokens per image or binary document (Anthropic's size for a ~1.15 megapixel
image). Errors are Anthropic error bodies, as on `/v1/messages`.

Media go through the same pass as on `/v1/messages` (pipeline/media.py) for the routed
model, before anything is counted or relayed: the same refusals (a private or metadata URL
an upstream would fetch, a bad file), and the same conversions (a URL the upstream cannot
fetch is fetched and inlined, a PDF becomes text for a model that cannot read PDFs). So
count_tokens accepts exactly what `/v1/messages` accepts, and counts what it would send.

Limits: like every request, a count is admitted against the key's `rpm` once the key is
known (the same per-minute count as `/v1/messages`; past it, Anthropic's 429
`rate_limit_error` with `retry-after`), since it may make the gateway fetch URLs, read PDFs
and call the upstream. It uses no tokens: it is never recorded in usage, and `tpm` and
`token_budget` do not refuse it (Anthropic's token counting is free and limited by
requests per minute only, apart from the limits of message creation; a key here has one
`rpm`, which both share).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, assert_never

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamError
from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
from polyrelay.frontends.anthropic_messages.betas import betas_from_headers
from polyrelay.frontends.anthropic_messages.content import relayed_messages
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from polyrelay.ir.tool_ids import plain_wire_ids, restore_request
from polyrelay.ir.tool_names import upstream_request
from polyrelay.pipeline.handler import read_body, response_headers
from polyrelay.pipeline.media import prepare_media
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.anthropic.content import messages_from_ir
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.web import failure_response

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway
    from polyrelay.providers import Route as ModelRoute

__all__ = ["estimate_tokens", "routes"]


CHARS_PER_TOKEN = 4
MEDIA_TOKENS = 1600


def estimate_tokens(request: ChatRequest) -> int:
    """The documented estimate for upstreams that cannot count (see the module doc)."""
    chars = 0
    media = 0
    for text in _texts(request):
        chars += len(text)
    for message in request.messages:
        for part in message.parts:
            media += _media_count(part)
    return math.ceil(chars / CHARS_PER_TOKEN) + media * MEDIA_TOKENS


def _texts(request: ChatRequest) -> Iterator[str]:
    yield from (p.text for p in request.system)
    for tool in request.tools:
        yield tool.name
        yield tool.description or ""
        yield codec.encode(tool.parameters).decode() if tool.parameters else ""
    for message in request.messages:
        for part in message.parts:
            yield from _part_texts(part)


def _part_texts(part: Part) -> Iterator[str]:
    match part:
        case TextPart() | ReasoningPart():
            yield part.text
        case ToolCallPart() | ServerToolCallPart():
            yield part.name
            yield part.arguments
        case ToolResultPart():
            for inner in part.content:
                yield from _part_texts(inner)
        case DocumentPart():
            yield part.text or ""
        case ServerToolResultPart():
            yield from (r.title for r in part.results)
        case ImagePart():
            pass
        case _:
            assert_never(part)


def _media_count(part: Part) -> int:
    if isinstance(part, ImagePart) or (isinstance(part, DocumentPart) and part.text is None):
        return 1
    if isinstance(part, ToolResultPart):
        return sum(_media_count(p) for p in part.content)
    return 0


async def _count(
    gateway: Gateway,
    request: Request,
    body: bytes,
    chat: ChatRequest,
    route: ModelRoute,
    ctx: RequestContext,
) -> int:
    provider = gateway.providers[route.provider.type]
    # The media rules of /v1/messages for this model: a URL relayed to an upstream is
    # checked here too (an upstream on the local network would fetch it from inside it).
    prepared = await prepare_media(chat, route, provider.capabilities, gateway.media_readers, ctx)
    if isinstance(provider, AnthropicProvider):
        changed = None if prepared is chat else prepared
        return await _count_anthropic(gateway, provider, request, body, route, changed, ctx)
    chat = prepared
    if isinstance(provider, GeminiProvider):
        # Named as /v1/messages names them for Gemini (its 400 refuses e.g. a name past
        # 64 characters); a count needs no map back.
        chat, _ = upstream_request(chat, provider.capabilities.tool_names)
        response = await gateway.client.send(
            provider.count_tokens_request(chat, route, ctx), route.provider
        )
        if response.status >= 400:
            raise provider.parse_error(response)
        return provider.parse_count_tokens(response)
    ctx.warn(
        f"input_tokens is an estimate (characters / {CHARS_PER_TOKEN}) for a "
        f"{route.provider.type} upstream, which cannot count tokens"
    )
    return estimate_tokens(chat)


async def _count_anthropic(
    gateway: Gateway,
    provider: AnthropicProvider,
    request: Request,
    body: bytes,
    route: ModelRoute,
    changed: ChatRequest | None,
    ctx: RequestContext,
) -> int:
    """The client's body counted upstream; `changed` is the request when the media pass
    changed a part of it, whose messages then replace the client's."""
    raw = codec.decode(body)
    assert isinstance(raw, dict)  # decode_count_tokens accepted it as an object
    if changed is not None:
        raw["messages"] = codec.decode(codec.encode(messages_from_ir(changed.messages, ctx)))
    else:  # the messages the fast path would relay: as its relay makes them
        relayed_messages(raw, ctx)
        plain_wire_ids(raw)
    headers = {"anthropic-version": request.headers.get("anthropic-version", "2023-06-01")}
    betas = betas_from_headers(request.headers)
    if betas:
        headers["anthropic-beta"] = ",".join(betas)
    upstream = provider.count_tokens_request(raw, route, headers)
    response = await gateway.client.send(upstream, route.provider)
    if response.status >= 400:
        raise provider.parse_error(response)
    document = codec.decode(response.body)
    count = document.get("input_tokens") if isinstance(document, dict) else None
    if not isinstance(count, int):
        raise UpstreamError(
            "the Anthropic upstream sent an unreadable count_tokens reply", status=502
        )
    return count


def count_tokens_endpoint(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    frontend = gateway.frontends["/v1/messages"]
    assert isinstance(frontend, AnthropicMessagesFrontend)

    async def endpoint(request: Request) -> Response:
        ctx = RequestContext()
        try:
            key = await gateway.authenticator.authenticate(request.headers)
            ctx.key_id = key.id
            # Counted against the key's rpm like any request: a count may fetch URLs and
            # call the upstream (see the module doc).
            await gateway.limiter.admit_tokenless(key)
            body = await read_body(request, gateway.settings.max_body_bytes)
            frontend.note_headers(request.headers, ctx)
            chat = restore_request(frontend.decode_count_tokens(body, ctx))
            ctx.model = chat.model
            route = gateway.route_for(key, chat.model)
            count = await _count(gateway, request, body, chat, route, ctx)
        except GatewayError as error:
            return gateway.error_response(frontend, error, ctx)
        except Exception as exc:
            return failure_response(gateway, request, frontend, exc, ctx)
        return Response(
            codec.encode({"input_tokens": count}),
            200,
            response_headers(ctx),
            media_type="application/json",
        )

    return endpoint


def routes(gateway: Gateway) -> list[BaseRoute]:
    return [Route("/v1/messages/count_tokens", count_tokens_endpoint(gateway), methods=["POST"])]
