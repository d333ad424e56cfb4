"""The real providers' output-token limits, told by the upstream model name, and the cap
they put on a translated request's `max_tokens`.

A client that speaks one protocol asks for what its own models take (Claude Code sends
`max_tokens` 32000 or 64000 on every request); the same number is a 400 from a model of
another provider with a smaller limit (gpt-4o: 16384). The fast path relays the client's
own body, faithful to its protocol, and is never capped; a translated request is lowered
to the route's limit, warned.

A route's limit is the model's configured `max_output_tokens` when set (the operator's word
about their model: a deployment, a beta header, a local server), else this table's. The
names are the upstream's (`Route.upstream_model`), dated snapshots and aliases alike; a name
the table does not know (a vLLM or Ollama model, an Azure deployment named its own way) has
no limit here.

Figures from the providers' model pages. Not confirmed here, from memory: o1-mini (65536)
and o1-preview (32768), gpt-4o-2024-05-13 (4096), gpt-4.5-preview (16384), gemini-1.5
(8192) and gemini-3 (65536). claude-3-7-sonnet takes 128000 with the `output-128k` beta
header, which only the operator can add (provider `headers`): then configure it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import msgspec

from polyrelay.context import RequestContext
from polyrelay.ir import ChatRequest
from polyrelay.providers import Route

__all__ = ["OUTPUT_LIMITS", "capped", "output_limit", "route_limit"]

OUTPUT_LIMITS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(pattern), limit)
    for pattern, limit in (
        # OpenAI. The first match wins: the exceptions before their families.
        (r"gpt-5(?:\.\d+)?-chat.*", 16_384),
        (r"gpt-5.*", 128_000),
        (r"o1-mini.*", 65_536),
        (r"o1-preview.*", 32_768),
        (r"o\d(?:-.*)?", 100_000),
        (r"gpt-4\.1.*", 32_768),
        (r"gpt-4\.5.*", 16_384),
        (r"gpt-4o-2024-05-13", 4_096),
        (r"gpt-4o.*|chatgpt-4o.*", 16_384),
        (r"gpt-4-turbo.*|gpt-4-\d{4}-preview|gpt-4-vision-preview", 4_096),
        (r"gpt-4(?:-\d{4})?", 8_192),
        (r"gpt-3\.5-turbo.*", 4_096),
        # Anthropic: dated ids (claude-sonnet-4-5-20250929) and Vertex's (…@20250929) too.
        (r"claude-3-(?:haiku|opus|sonnet)[-@].*", 4_096),
        (r"claude-3-5-(?:sonnet|haiku).*", 8_192),
        (r"claude-3-7-sonnet.*", 64_000),
        (r"claude-(?:opus|sonnet)-4-[6-9].*|claude-[a-z]+-[5-9](?:[-.@].*)?", 128_000),
        (r"claude-opus-4-5.*", 64_000),
        (r"claude-opus-4(?:-[01])?(?:[-@]\d{8}.*)?", 32_000),
        (r"claude-sonnet-4.*|claude-haiku-4-5.*", 64_000),
        # Gemini, with or without the API's `models/` prefix.
        (r"(?:models/)?gemini-(?:2\.5|3(?:\.\d+)?)-.*", 65_536),
        (r"(?:models/)?gemini-2\.0-flash(?:-lite)?(?:-\d{3}|-preview-\d\d-\d\d)?", 8_192),
        (r"(?:models/)?gemini-1\.5-.*", 8_192),
    )
)
"""(upstream model name, its most output tokens), tried in order."""


# Cached: the table is ~25 patterns tried in order, on every translated request, and the
# names are the configured routes' (bounded anyway, for routes that pass a client's name).
@lru_cache(maxsize=1024)
def output_limit(upstream_model: str) -> int | None:
    """The table's limit for `upstream_model`; None for a name it does not know."""
    for pattern, limit in OUTPUT_LIMITS:
        if pattern.fullmatch(upstream_model):
            return limit
    return None


def route_limit(route: Route) -> int | None:
    """The most output tokens the route's model takes: configured, else the table's."""
    configured = route.model.max_output_tokens
    return configured if configured is not None else output_limit(route.upstream_model)


def capped(request: ChatRequest, route: Route, ctx: RequestContext) -> ChatRequest:
    """A translated `request` whose `max_tokens` is above the route's limit, lowered to
    it, warned (the upstream would answer 400)."""
    asked = request.max_tokens
    if asked is None:
        return request
    limit = route_limit(route)
    if limit is None or asked <= limit:
        return request
    ctx.warn(
        f"max_tokens {asked} is above the {limit} output tokens {route.upstream_model!r}"
        f" takes; lowered to {limit}"
    )
    return msgspec.structs.replace(request, max_tokens=limit)
