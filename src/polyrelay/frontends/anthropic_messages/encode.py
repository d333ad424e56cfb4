"""IR → Anthropic response bodies: the Message object, usage, and error bodies.

Usage (translation.md §8): the IR's input count includes cache tokens; Anthropic's
`input_tokens` excludes them, so they are subtracted (clamped at 0). The cache writes are
split by lifetime in `cache_creation`, as Anthropic's usage always is (zeros when nothing
was written), whichever upstream wrote them.
"""

from __future__ import annotations

from typing import assert_never

import msgspec
from msgspec import UNSET, UnsetType

from polyrelay.codec import DecodeError, decode, encode
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, kind_for_status
from polyrelay.frontends.anthropic_messages.content import signature_token
from polyrelay.ir import (
    ChatResponse,
    Citation,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from polyrelay.providers.anthropic.content import ORIGIN, web_search_result_from_ir
from polyrelay.schemas.anthropic_messages import (
    CacheCreation,
    ContentBlock,
    ErrorObject,
    ErrorResponse,
    Message,
    OutputTokensDetails,
    RedactedThinkingBlock,
    ServerToolUsage,
    ServerToolUseBlock,
    TextBlock,
    TextCitation,
    ThinkingBlock,
    ToolUseBlock,
    Usage as WireUsage,
)

__all__ = [
    "citation_from_ir",
    "encode_error",
    "encode_response",
    "error_type_for",
    "message_id",
    "thinking_from_ir",
    "tool_input",
    "trails_text",
    "usage_from_ir",
]

TRAILING_SIGNATURE_DROPPED = (
    "a reasoning signature the upstream sent after its answer's text was dropped: an Anthropic "
    "message never ends with thinking, and clients take its last block for the answer"
)

_EMPTY_INPUT = msgspec.Raw(b"{}")


def message_id(ctx: RequestContext) -> str:
    return "msg_" + ctx.request_id.removeprefix("req_")


def encode_response(response: ChatResponse, ctx: RequestContext) -> bytes:
    parts = response.parts
    if len(parts) > 1 and trails_text(parts[-1], parts[-2]):
        ctx.warn(TRAILING_SIGNATURE_DROPPED)
        parts = parts[:-1]
    content = [b for b in (_block_from_ir(p, ctx) for p in parts) if b is not None]
    message = Message(
        id=message_id(ctx),
        model=ctx.model or response.model,
        content=content,
        stop_reason=response.stop_reason.value,
        stop_sequence=response.stop_sequence,
        usage=usage_from_ir(response.usage),
    )
    return encode(message)


def trails_text(part: Part, previous: Part | None) -> bool:
    """Whether `part` is reasoning state without reasoning text right after the answer's
    text: Gemini signs its answer on the last part, which the IR keeps as a signature-only
    ReasoningPart after the text. As a thinking block after the text it would end the
    message, where Claude Code and the Agent SDK read the answer (their result was "")."""
    return (
        isinstance(part, ReasoningPart)
        and not part.text
        and part.origin != ORIGIN
        and isinstance(previous, TextPart)
    )


def usage_from_ir(usage: Usage) -> WireUsage:
    cache_read, cache_write = usage.cache_read_tokens, usage.cache_write_tokens
    server = usage.web_search_requests
    return WireUsage(
        input_tokens=max(0, usage.input_tokens - cache_read - cache_write),
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=cache_write,
        cache_read_input_tokens=cache_read,
        cache_creation=cache_creation_from_ir(usage),
        server_tool_use=ServerToolUsage(web_search_requests=server) if server > 0 else None,
        output_tokens_details=thinking_details(usage),
    )


_NOTHING_WRITTEN = CacheCreation()
"""Shared by every usage without cache writes (never mutated): most answers have none."""


def cache_creation_from_ir(usage: Usage) -> CacheCreation:
    """The cache writes by lifetime: the IR's 1-hour part (only Anthropic reports one), the
    rest written for 5 minutes, the default lifetime."""
    written, written_1h = usage.cache_write_tokens, usage.cache_write_1h_tokens
    if written <= 0:
        return _NOTHING_WRITTEN
    written_1h = min(written_1h, written)
    return CacheCreation(
        ephemeral_5m_input_tokens=written - written_1h, ephemeral_1h_input_tokens=written_1h
    )


def thinking_details(usage: Usage) -> OutputTokensDetails | UnsetType:
    """The reasoning within the output, when the upstream reported any (left out, as the
    API leaves it out, when there is none to tell)."""
    if usage.reasoning_tokens <= 0:
        return UNSET
    return OutputTokensDetails(thinking_tokens=usage.reasoning_tokens)


def _block_from_ir(part: Part, ctx: RequestContext) -> ContentBlock | None:
    match part:
        case TextPart():
            citations = [citation_from_ir(c) for c in part.citations] or None
            return TextBlock(text=part.text, citations=citations)
        case ReasoningPart():
            return thinking_from_ir(part)
        case ToolCallPart():
            # Extensions are already folded into the id by the pipeline (ir/tool_ids.py).
            return ToolUseBlock(id=part.id, name=part.name, input=tool_input(part.arguments, ctx))
        case ServerToolCallPart():
            args = tool_input(part.arguments, ctx)
            return ServerToolUseBlock(id=part.id, name=part.name, input=args)
        case ServerToolResultPart():
            return web_search_result_from_ir(part)
        case ImagePart() | DocumentPart() | ToolResultPart():
            ctx.warn(f"a {type(part).__name__} in a model response cannot be sent; dropped")
            return None
        case _:
            assert_never(part)


def citation_from_ir(citation: Citation) -> TextCitation:
    return TextCitation(
        type="web_search_result_location",
        url=citation.url,
        title=citation.title,
        cited_text=citation.cited_text or "",
        encrypted_index=citation.encrypted_index or "",
    )


def thinking_from_ir(part: ReasoningPart) -> ThinkingBlock | RedactedThinkingBlock:
    if part.origin == ORIGIN and part.signature is not None:
        if part.redacted:
            return RedactedThinkingBlock(data=part.signature)
        return ThinkingBlock(thinking=part.text, signature=part.signature)
    return ThinkingBlock(thinking=part.text, signature=signature_token(part.origin, part.signature))


def tool_input(arguments: str, ctx: RequestContext) -> msgspec.Raw:
    """The arguments' own JSON text when it is an object (never re-serialised)."""
    if not arguments.strip():
        return _EMPTY_INPUT
    try:
        valid = isinstance(decode(arguments), dict)
    except DecodeError:
        valid = False
    if not valid:
        ctx.warn("tool call arguments that were not a JSON object were sent as {}")
        return _EMPTY_INPUT
    return msgspec.Raw(arguments.encode())


def error_type_for(error: GatewayError) -> tuple[int, str]:
    if error.kind == "overloaded_error":
        return 529, "overloaded_error"
    status = error.status
    # The shared status table, but Anthropic has no 503 error type: overload is 529 (above),
    # any other error at 503 is an api_error.
    return status, "api_error" if status == 503 else kind_for_status(status)


def encode_error(error: GatewayError, request_id: str | None = None) -> tuple[int, bytes]:
    status, error_type = error_type_for(error)
    body = ErrorResponse(
        error=ErrorObject(type=error_type, message=error.message), request_id=request_id
    )
    return status, encode(body)
