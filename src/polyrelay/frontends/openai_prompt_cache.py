"""Prompt caching asked for in OpenAI's terms, read by both OpenAI frontends into
`ChatRequest.prompt_cache`: a `prompt_cache_key` (Codex sends its session id on every
turn) or a `prompt_cache_retention` says the client means its prompt to be cached.
OpenAI caches every prompt by itself; Anthropic only where it is told, with writes billed
above the input price, so only such a clear signal turns its caching on (to the prompt's
end, for a request that marks no breakpoint of its own)."""

from __future__ import annotations

from polyrelay.ir import CacheTTL

__all__ = ["prompt_cache_to_ir"]

_LONG_RETENTION = "24h"
"""OpenAI's extended retention: Anthropic's longest ttl (1h) is the nearest."""


def prompt_cache_to_ir(key: str | None, retention: str | None) -> CacheTTL | None:
    """The ttl asked for (`24h` retention: 1h; `in_memory` or a key alone: 5m), or None."""
    if retention == _LONG_RETENTION:
        return "1h"
    return "5m" if key is not None or retention is not None else None
