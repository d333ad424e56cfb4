"""Prompt-cache breakpoints in a Chat Completions request, as LiteLLM and OpenRouter take
them for Claude models (the convention OpenAI-format clients use): `cache_control:
{"type": "ephemeral", "ttl"?: "5m" | "1h"}` on a text content part, or on a whole message,
which marks its last text part. OpenAI has no such field: the fast path to an OpenAI
upstream relays the body as sent; translated, a breakpoint is `TextPart.cache_control`
(Anthropic's `cache_control`; other upstreams cache a repeated prefix by themselves and
leave it out).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import msgspec

from polyrelay.context import RequestContext
from polyrelay.ir import CacheTTL, TextPart

__all__ = ["cache_ttl_to_ir", "mark_last_text"]

_TTLS: dict[object, CacheTTL] = {None: "5m", "5m": "5m", "1h": "1h"}

P = TypeVar("P")


def cache_ttl_to_ir(value: Any, param: str, ctx: RequestContext) -> CacheTTL | None:
    """A breakpoint's ttl; None for none. A malformed one is only a caching hint (the
    answer is the same without it), so it is warned and left out, never refused."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        ctx.warn_translated(f'{param} is not {{"type": "ephemeral"}}; ignored')
        return None
    ttl = _TTLS.get(value.get("ttl"))
    if ttl is None:
        ctx.warn_translated(f"{param}.ttl {value.get('ttl')!r} is not 5m or 1h; sent as 5m")
        return "5m"
    return ttl


def mark_last_text(parts: list[P], value: Any, param: str, ctx: RequestContext) -> None:
    """Puts a message's own `cache_control` (`value`, at `param`) on its last text part."""
    ttl = cache_ttl_to_ir(value, param, ctx)
    if ttl is None:
        return
    for i in reversed(range(len(parts))):
        part = parts[i]
        if isinstance(part, TextPart):
            parts[i] = cast(P, msgspec.structs.replace(part, cache_control=ttl))
            return
    ctx.warn_translated(f"{param}: the message has no text to mark; ignored")
