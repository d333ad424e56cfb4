"""Anthropic request content blocks → IR parts, and the gateway's thinking signatures.

Media rules (DESIGN.md `/v1/messages` row): sources `base64`, `url` and `text`;
media types from a fixed list, anything else is a 400 naming the type. `file` blocks
are routed by their media type (image/* → image), `file_data` carries inline data.

Gateway signature tokens (translation.md §6): an Anthropic client can only hold a
thinking block's state in its `signature`, so reasoning from another provider is sent
as `gw1.<base64url of {"o": origin, "s": signature-or-null}>`; decoding reverses it,
and the Anthropic provider never forwards a foreign origin.
"""

from __future__ import annotations

from typing import assert_never

import msgspec

from polyrelay.codec import JSONObject, holds_string
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.ir import (
    CacheTTL,
    DocumentPart,
    ImagePart,
    MediaPart,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from polyrelay.ir.reasoning_token import (
    is_reasoning_token,
    reasoning_from_token,
    reasoning_token,
)
from polyrelay.providers.anthropic.content import ORIGIN, gateway_citation, gateway_search
from polyrelay.providers.anthropic.response import citations_to_ir, web_search_result_to_ir
from polyrelay.schemas.anthropic_messages import (
    Base64Source,
    CacheControl,
    ContentBlockParam,
    ContentSource,
    DocumentBlockParam,
    FileBlockParam,
    FileDataBlockParam,
    FileSource,
    ImageBlockParam,
    PlainTextSource,
    RedactedThinkingBlock,
    ServerToolUseBlock,
    Source,
    TextBlock,
    ThinkingBlock,
    ToolResultBlockParam,
    ToolResultContentParam,
    ToolUseBlock,
    URLSource,
    WebSearchToolResultBlock,
)

__all__ = [
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "block_to_ir",
    "drop_foreign_thinking",
    "list_string_messages",
    "reasoning_from_signature",
    "relayed_messages",
    "signature_token",
]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/markdown", "text/csv")
_TEXT_TYPES = DOCUMENT_TYPES[1:]
_ALLOWED = ", ".join(DOCUMENT_TYPES + IMAGE_TYPES)


def signature_token(origin: str | None, signature: str | None) -> str:
    return reasoning_token(origin, signature)


def reasoning_from_signature(text: str, signature: str, path: str) -> ReasoningPart:
    if not is_reasoning_token(signature):
        return ReasoningPart(text=text, signature=signature or None, origin=ORIGIN)
    part = reasoning_from_token(signature, text)
    if part is None:
        raise InvalidRequestError(
            f"{path}.signature: not a signature this gateway issued", param=f"{path}.signature"
        )
    return ReasoningPart(text=text, signature=part.signature, origin=part.origin)


def list_string_messages(raw: JSONObject) -> bool:
    """A client's raw `messages` given as a string (the service's addition) made the one
    user message the Anthropic API takes, in place; whether it was one. Read undecoded
    (codec.holds_string): the messages are most of a body."""
    if not holds_string(raw, "messages"):
        return False
    raw["messages"] = [{"role": "user", "content": raw["messages"]}]
    return True


def relayed_messages(raw: JSONObject, ctx: RequestContext) -> None:
    """A client's raw body made what its `messages` must be to reach Anthropic as the
    client wrote them, in place: a plain string made the one user message the API takes,
    and thinking another provider issued left out (the decode warned and set
    `ctx.foreign_reasoning`), as the translated path leaves it out. The fast path and
    count_tokens both send this, so a count counts what the request would send."""
    if not list_string_messages(raw) and ctx.foreign_reasoning:
        drop_foreign_thinking(raw["messages"])


def drop_foreign_thinking(messages: object) -> None:
    """Leave out of a client's raw `messages` (in place) the thinking blocks another
    provider issued (this gateway's tokens), for the fast path to Anthropic: only their
    issuer accepts them (translation.md §6)."""
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content[:] = [block for block in content if not _is_foreign_thinking(block)]


def _is_foreign_thinking(block: object) -> bool:
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    return is_reasoning_token(block.get("signature"))


def _fail(path: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {message}", param=path)


def _check_type(media_type: str, allowed: tuple[str, ...], path: str) -> str:
    if media_type not in allowed:
        raise _fail(path, f"unsupported media type {media_type!r}; allowed: {_ALLOWED}")
    return media_type


def block_to_ir(block: ContentBlockParam, message: int, j: int, ctx: RequestContext) -> Part:
    """Block `j` of `messages[message]`, named `messages.{message}.content.{j}` in errors.
    The common blocks first, by their exact type: matching class patterns cost more than
    converting such a block, and a long conversation is hundreds of them on every request
    (nor is their path, which they never name, written out for them)."""
    if type(block) is TextBlock:
        return _text_to_ir(block, ctx)
    if type(block) is ToolUseBlock:
        return _tool_use_to_ir(block)
    path = f"messages.{message}.content.{j}"
    if type(block) is ToolResultBlockParam:
        return _tool_result_to_ir(block, path, ctx)
    return _any_block_to_ir(block, path, ctx)


def _any_block_to_ir(block: ContentBlockParam, path: str, ctx: RequestContext) -> Part:
    match block:
        case TextBlock() | ImageBlockParam() | DocumentBlockParam():
            return media_to_ir(block, path, ctx)
        case FileBlockParam():
            ctx.passthrough_ok = False  # a service addition Anthropic itself rejects
            return _file_to_ir(block, path)
        case FileDataBlockParam():
            ctx.passthrough_ok = False  # a service addition Anthropic itself rejects
            media_type = _check_type(block.media_type, DOCUMENT_TYPES + IMAGE_TYPES, path)
            if media_type.startswith("image/"):
                return ImagePart(media_type=media_type, data=block.data)
            title = block.title
            return DocumentPart(
                media_type=media_type, data=block.data, title=title, filename=block.filename
            )
        case ToolUseBlock():
            return _tool_use_to_ir(block)
        case ToolResultBlockParam():
            return _tool_result_to_ir(block, path, ctx)
        case ThinkingBlock():
            return reasoning_from_signature(block.thinking, block.signature, path)
        case RedactedThinkingBlock():
            return ReasoningPart(signature=block.data, origin=ORIGIN, redacted=True)
        case ServerToolUseBlock():
            args = bytes(block.input).decode()
            return ServerToolCallPart(id=block.id, name=block.name, arguments=args)
        case WebSearchToolResultBlock():
            result = web_search_result_to_ir(block)
            if gateway_search(result):
                ctx.passthrough_ok = False  # the gateway's own search: not for Anthropic as is
            return result
        case _:
            assert_never(block)


def cache_ttl_to_ir(cache: CacheControl | None) -> CacheTTL | None:
    """A text block's cache marker: its ttl (`1h`, else the default `5m`), None for none."""
    if cache is None:
        return None
    return "1h" if cache.ttl == "1h" else "5m"


def _tool_use_to_ir(block: ToolUseBlock) -> ToolCallPart:
    return ToolCallPart(id=block.id, name=block.name, arguments=bytes(block.input).decode())


def _text_to_ir(block: TextBlock, ctx: RequestContext) -> TextPart:
    citations = citations_to_ir(block.citations, ctx)
    if citations and any(gateway_citation(c) for c in citations):
        ctx.passthrough_ok = False  # cites the gateway's own search: see above
    return TextPart(
        text=block.text, citations=citations, cache_control=cache_ttl_to_ir(block.cache_control)
    )


def media_to_ir(block: ToolResultContentParam, path: str, ctx: RequestContext) -> MediaPart:
    if type(block) is TextBlock:  # the common one first (see block_to_ir)
        return _text_to_ir(block, ctx)
    match block:
        case TextBlock():
            return _text_to_ir(block, ctx)
        case ImageBlockParam():
            return _image_to_ir(block.source, f"{path}.source")
        case DocumentBlockParam():
            if _gateway_only(block.source):
                ctx.passthrough_ok = False
            if block.context is not None or block.citations is not None:
                # Only the fast path relays them; the IR's document has no room for them.
                ctx.warn_translated(
                    f"{path}: a document's context and citations are not carried; ignored"
                )
            return _document_to_ir(block.source, f"{path}.source", block.title, None)
        case _:
            assert_never(block)


def _gateway_only(source: Source) -> bool:
    """Document sources only the gateway takes (Anthropic: base64 PDFs, text/plain text),
    so the raw body cannot be relayed; pipeline/media.py converts them."""
    if isinstance(source, Base64Source):
        return source.media_type != "application/pdf"
    return isinstance(source, PlainTextSource) and source.media_type != "text/plain"


def _image_to_ir(source: Source, path: str) -> ImagePart:
    match source:
        case Base64Source():
            media_type = _check_type(source.media_type, IMAGE_TYPES, f"{path}.media_type")
            return ImagePart(media_type=media_type, data=source.data)
        case URLSource():
            return ImagePart(url=source.url)
        case PlainTextSource() | FileSource() | ContentSource():
            raise _unsupported_source(source, path)
        case _:
            assert_never(source)


def _document_to_ir(
    source: Source, path: str, title: str | None, filename: str | None
) -> DocumentPart:
    match source:
        case Base64Source():
            media_type = _check_type(source.media_type, DOCUMENT_TYPES, f"{path}.media_type")
            return DocumentPart(media_type=media_type, data=source.data, title=title)
        case PlainTextSource():
            media_type = _check_type(source.media_type, _TEXT_TYPES, f"{path}.media_type")
            return DocumentPart(media_type=media_type, text=source.data, title=title)
        case URLSource():
            return DocumentPart(url=source.url, title=title, filename=filename)
        case FileSource() | ContentSource():
            raise _unsupported_source(source, path)
        case _:
            assert_never(source)


def _unsupported_source(source: Source, path: str) -> UnsupportedError:
    kind = type(source).__struct_config__.tag
    return UnsupportedError(
        f"{path}.type: source type {kind!r} is not supported; allowed: base64, url, text",
        param=f"{path}.type",
    )


def _file_to_ir(block: FileBlockParam, path: str) -> ImagePart | DocumentPart:
    source = block.source
    media_type = block.media_type
    if media_type is None and isinstance(source, Base64Source | PlainTextSource):
        media_type = source.media_type
    if media_type is not None:
        _check_type(media_type, DOCUMENT_TYPES + IMAGE_TYPES, f"{path}.media_type")
    if media_type is not None and media_type.startswith("image/"):
        image = _image_to_ir(source, f"{path}.source")
        return image if image.media_type else msgspec.structs.replace(image, media_type=media_type)
    document = _document_to_ir(source, f"{path}.source", block.title, block.filename)
    if document.media_type is None and media_type is not None:
        # A URL source has no media type of its own: the block's declared one tells the
        # media pass whether the upstream can take the URL (a PDF) or it must become text.
        document = msgspec.structs.replace(document, media_type=media_type)
    return document


def _content_to_ir(
    block: ToolResultContentParam, path: str, i: int, ctx: RequestContext
) -> MediaPart:
    """Item `i` of a tool result's content; its path written out only if it may name it."""
    if type(block) is TextBlock:
        return _text_to_ir(block, ctx)
    return media_to_ir(block, f"{path}.content.{i}", ctx)


def _tool_result_to_ir(
    block: ToolResultBlockParam, path: str, ctx: RequestContext
) -> ToolResultPart:
    content: tuple[MediaPart, ...]
    if block.content is None:
        content = ()
    elif isinstance(block.content, str):
        content = (TextPart(text=block.content),)
    else:
        content = tuple(_content_to_ir(b, path, i, ctx) for i, b in enumerate(block.content))
    return ToolResultPart(
        tool_call_id=block.tool_use_id,
        content=content,
        is_error=bool(block.is_error),
    )
