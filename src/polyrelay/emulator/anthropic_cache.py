"""Anthropic's prompt caching (explicit): a request's prompt in the cache's order (tools,
then system, then messages) with its `cache_control` breakpoints, and the usage that
reports the cache's reads and writes (prompt_cache.py simulates the cache itself).

A block marks the end of a cacheable prefix with `cache_control` (a tool, a system block,
a message's block; a block inside a tool result marks that result); a top-level
`cache_control` marks the last block of the messages (automatic caching). A ttl is `5m`
(the default) or `1h`, and a 1h marker may not follow a 5m one, as the API refuses.
"""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.anthropic_search import search_count
from polyrelay.emulator.prompt_cache import (
    FIVE_MINUTES,
    ONE_HOUR,
    Breakpoint,
    CachedPrompt,
)
from polyrelay.emulator.script import Plan, RequestError
from polyrelay.emulator.wire import as_list, as_object, as_str, json_text, parts_text

__all__ = ["anthropic_usage", "block_text", "cached_prompt", "minimum_cacheable"]

_TTLS = {"5m": FIVE_MINUTES, "1h": ONE_HOUR}
_LARGE_MINIMUM = re.compile(r"claude-(?:opus-4-[56]|haiku-4-5)(?!\d)")
"""The models whose minimum cacheable prompt is 4096 tokens (the docs' table)."""


def minimum_cacheable(model: str) -> int:
    """The shortest prefix the model caches: 4096 tokens for Opus 4.5 and 4.6 and Haiku
    4.5, 2048 for the older Haikus, 1024 for the others (Sonnet, Opus 4 and 4.1, ...)."""
    if _LARGE_MINIMUM.search(model):
        return 4096
    return 2048 if "haiku" in model else 1024


def block_text(block: JSONObject) -> str:
    """The words a content block adds to the prompt."""
    kind = block.get("type")
    if kind == "tool_use":
        return json_text(block.get("input", {}))
    if kind == "tool_result":
        return parts_text(block.get("content"))
    if kind == "thinking":
        return as_str(block.get("thinking"))
    return as_str(block.get("text"))


def cached_prompt(
    body: JSONObject, messages: list[tuple[str, list[JSONObject]]], tools: list[JSONObject]
) -> CachedPrompt | None:
    """The request's prompt for the cache; None when nothing in it asks for caching."""
    system = body.get("system")
    system_blocks: list[JSONObject | str] = (
        [system] if isinstance(system, str) else [as_object(block) for block in as_list(system)]
    )
    content = (block for _, blocks in messages for block in blocks)
    blocks: list[JSONObject | str] = [*tools, *system_blocks, *content]
    marked = [
        (i, marker)
        for i, block in enumerate(blocks)
        if not isinstance(block, str) and (marker := _marker(block)) is not None
    ]
    automatic = body.get("cache_control")
    if automatic and blocks:
        marked.append((len(blocks) - 1, as_object(automatic)))
    if not marked:
        return None
    texts = [as_str(tool.get("description")) for tool in tools]
    texts += [b if isinstance(b, str) else block_text(b) for b in blocks[len(tools) :]]
    model = as_str(body.get("model"))
    return CachedPrompt(
        model=model,
        blocks=texts,
        minimum=minimum_cacheable(model),
        breakpoints=_breakpoints(marked),
    )


def _marker(block: JSONObject) -> JSONObject | None:
    marker = block.get("cache_control")
    if marker:
        return as_object(marker)
    if block.get("type") == "tool_result":
        inner = [as_object(item).get("cache_control") for item in as_list(block.get("content"))]
        return next((as_object(m) for m in reversed(inner) if m), None)
    return None


def _breakpoints(marked: list[tuple[int, JSONObject]]) -> list[Breakpoint]:
    breakpoints: list[Breakpoint] = []
    for block, marker in sorted(marked, key=lambda item: item[0]):
        ttl = marker.get("ttl") or "5m"
        if ttl not in _TTLS:
            raise RequestError(
                400, f"cache_control.ttl: Input should be '5m' or '1h', got {ttl!r}", "ttl"
            )
        if breakpoints and _TTLS[ttl] > breakpoints[-1].ttl:
            raise RequestError(
                400,
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control"
                " block. Note that blocks are processed in the following order: `tools`,"
                " `system`, `messages`.",
            )
        breakpoints.append(Breakpoint(block, _TTLS[ttl]))
    return breakpoints


def anthropic_usage(plan: Plan) -> JSONObject:
    """A Message's usage: `input_tokens` is only the words after the last cache
    breakpoint; what lies before it was read from the cache or written to it."""
    cache = plan.cache
    usage: JSONObject = {
        "input_tokens": plan.input_tokens - cache.cached,
        "output_tokens": plan.output_tokens,
        "cache_creation_input_tokens": cache.written,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.written_5m,
            "ephemeral_1h_input_tokens": cache.written_1h,
        },
        "service_tier": "standard",
    }
    if plan.searches:
        # Both counts, as the API writes them (the SDK's ServerToolUsage requires both).
        usage["server_tool_use"] = {
            "web_search_requests": search_count(plan),
            "web_fetch_requests": 0,
        }
    return usage
