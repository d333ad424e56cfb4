"""Content blocks of types this gateway does not know, which only Anthropic can read.

Anthropic adds block types to its Messages API faster than a gateway learns them
(`search_result`, often inside a `tool_result`; `container_upload`; `tool_reference`...).
The typed decode refuses an unknown `type` ("Invalid value 'search_result'"), which
refused the request even to an Anthropic upstream, whose fast path relays the client's
own bytes and needs nothing from these blocks. So, when that is the only thing wrong,
the blocks are taken out of a copy that is decoded instead: the fast path relays the
body as the client sent it (Anthropic checks them itself), and a translated request is
refused with a 400 naming the block (`ctx.refuse_translated`), since no other upstream
has a place for it. Only a refused body pays for this; the common one decodes once.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import msgspec

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.schemas.anthropic_messages import ContentBlockParam, ToolResultContentParam

__all__ = ["UnknownBlock", "refuse_translated", "without_unknown_blocks"]

_BLOCK_TYPE = re.compile(
    r"Invalid value '[^']*' - at `\$\.messages\[\d+\]\.content\[\d+\](?:\.content\[\d+\])?\.type`"
)


def _tags(union: object) -> frozenset[str]:
    return frozenset(str(member.__struct_config__.tag) for member in get_args(union))


_KNOWN = _tags(ContentBlockParam)
_KNOWN_IN_RESULTS = _tags(ToolResultContentParam)


class UnknownBlock(msgspec.Struct, frozen=True):
    path: str
    """`messages.1.content.0` (`.content.2` more inside a tool result)."""
    type: str


def without_unknown_blocks(
    body: bytes, error: msgspec.ValidationError
) -> tuple[bytes, list[UnknownBlock]] | None:
    """`body` without the content blocks of unknown types, and those blocks; None when
    `error` is not about a block's type (the caller raises it as it is)."""
    if _BLOCK_TYPE.fullmatch(str(error)) is None:
        return None
    document = codec.decode(body)
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, list):
        return None
    found: list[UnknownBlock] = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            message["content"] = _known_only(content, f"messages.{i}.content", _KNOWN, found)
    return codec.encode(document), found


def _known_only(
    blocks: list[Any], path: str, known: frozenset[str], found: list[UnknownBlock]
) -> list[Any]:
    kept = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if isinstance(kind, str) and kind not in known:
            found.append(UnknownBlock(f"{path}.{j}", kind))
            continue
        inner = block.get("content") if kind == "tool_result" else None
        if isinstance(inner, list):
            where = f"{path}.{j}.content"
            block["content"] = _known_only(inner, where, _KNOWN_IN_RESULTS, found)
        kept.append(block)
    return kept


def refuse_translated(blocks: list[UnknownBlock], ctx: RequestContext) -> None:
    """The first unknown block is the 400 of a translated request (none for the fast
    path, which relays them)."""
    for block in blocks:
        ctx.refuse_translated(
            UnsupportedError(
                f"{block.path}: content blocks of type {block.type!r} are relayed as sent to"
                " a model on an Anthropic upstream only; this model's upstream has no place"
                " for them",
                param=f"{block.path}.type",
            )
        )
