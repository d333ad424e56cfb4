"""Anthropic's cache markers for a translated request.

The limit: at most 4 blocks with `cache_control` in a request ("A maximum of 4 blocks
with cache_control may be provided. Found 5."), the top-level `cache_control` counting as
one. A translated request may carry more (a Responses client's `prompt_cache_breakpoint`
on every part): the last 4 are kept, since each caches the prompt up to it and a later
prefix holds the earlier ones; the others are left out, warned.

Automatic caching: Anthropic caches only where told, so a request that marks no
breakpoint of its own gets the top-level `cache_control` (which marks the prompt's last
block) when its client asked for caching in OpenAI's terms (`ChatRequest.prompt_cache`)
or its model's config says `prompt_caching: auto`. Never beside the request's own markers:
the client chose what to cache (and to pay for), and the limit holds with the one more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.ir import CacheTTL, ChatRequest
from polyrelay.providers import Route
from polyrelay.schemas.anthropic_messages import (
    CacheControl,
    MessageParam,
    TextBlock,
    ToolResultBlockParam,
)

__all__ = ["MAX_CACHE_MARKERS", "automatic_cache", "cache_control_from_ir", "cap_cache_markers"]

MAX_CACHE_MARKERS = 4
_DEFAULT_TTL: CacheTTL = "5m"


def cache_control_from_ir(ttl: CacheTTL | None) -> CacheControl | None:
    """A marker of `ttl`; the default 5m is written without one, as clients write it."""
    if ttl is None:
        return None
    return CacheControl(type="ephemeral", ttl=None if ttl == _DEFAULT_TTL else ttl)


def automatic_cache(
    request: ChatRequest,
    route: Route,
    system: str | list[TextBlock] | None,
    messages: list[MessageParam],
    own: Callable[[], JSONObject],
) -> CacheControl | None:
    """The top-level `cache_control` to send, if any; `own()` gives the Anthropic client's
    own top-level fields (its tools with their markers), sent as it wrote them (asked
    only when caching is, so that other requests do not gather them a second time)."""
    ttl = request.prompt_cache
    if ttl is None and route.model.prompt_caching == "auto":
        ttl = _DEFAULT_TTL
    if ttl is None or _marked(system, messages, own()):
        return None
    return cache_control_from_ir(ttl)


def _marked(
    system: str | list[TextBlock] | None, messages: list[MessageParam], own: JSONObject
) -> bool:
    """Whether the request marks a breakpoint of its own."""
    if "cache_control" in own or any(
        block.cache_control for block in _text_blocks(system, messages)
    ):
        return True
    tools = own.get("tools")
    return isinstance(tools, list) and any(
        isinstance(tool, dict) and tool.get("cache_control") for tool in tools
    )


def cap_cache_markers(
    system: str | list[TextBlock] | None, messages: list[MessageParam], ctx: RequestContext
) -> None:
    marked = [block for block in _text_blocks(system, messages) if block.cache_control]
    extra = len(marked) - MAX_CACHE_MARKERS
    if extra <= 0:
        return
    for block in marked[:extra]:
        block.cache_control = None
    ctx.warn(
        f"{extra} cache markers beyond Anthropic's {MAX_CACHE_MARKERS} were left out"
        f" (the last {MAX_CACHE_MARKERS} kept)"
    )


def _text_blocks(
    system: str | list[TextBlock] | None, messages: list[MessageParam]
) -> Iterator[TextBlock]:
    """The blocks the translation may mark (only text: ir.TextPart.cache_control), in
    prompt order: system, then each message's, a tool result's inside it."""
    if isinstance(system, list):
        yield from system
    for message in messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if isinstance(block, TextBlock):
                yield block
            elif isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
                yield from (b for b in block.content if isinstance(b, TextBlock))
