"""Anthropic's limit on cache markers: at most 4 blocks with `cache_control` in a request
("A maximum of 4 blocks with cache_control may be provided. Found 5."). A translated
request may carry more (a Responses client's `prompt_cache_breakpoint` on every part):
the last 4 are kept, since each caches the prompt up to it and a later prefix holds the
earlier ones; the others are left out, warned.
"""

from __future__ import annotations

from collections.abc import Iterator

from polyrelay.context import RequestContext
from polyrelay.schemas.anthropic_messages import MessageParam, TextBlock, ToolResultBlockParam

__all__ = ["MAX_CACHE_MARKERS", "cap_cache_markers"]

MAX_CACHE_MARKERS = 4


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
