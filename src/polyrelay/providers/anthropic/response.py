"""Anthropic response and error bodies → IR ChatResponse / UpstreamError.

Usage (translation.md §8): Anthropic's `input_tokens` EXCLUDES cache reads and writes;
the IR's includes them, so IR input = input + cache_read + cache_creation. Its
`cache_creation` splits the writes by lifetime: the 1-hour part is priced apart.
"""

from __future__ import annotations

from typing import assert_never

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError, kind_for_status, upstream_credential_error
from polyrelay.ir import (
    ChatResponse,
    Citation,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
    WebSearchResult,
)
from polyrelay.providers import UpstreamResponse, surrogates
from polyrelay.providers.anthropic.content import ORIGIN
from polyrelay.providers.error_body import (
    error_object,
    foreign_error_message,
    rate_limit_headers,
    text,
)
from polyrelay.schemas.anthropic_messages import (
    ContentBlock,
    Message,
    MessageDeltaUsage,
    RedactedThinkingBlock,
    ServerToolUseBlock,
    TextBlock,
    TextCitation,
    ThinkingBlock,
    ToolUseBlock,
    Usage as WireUsage,
    WebSearchToolResultBlock,
    WebSearchToolResultError,
)

__all__ = [
    "STATUS_BY_ERROR_TYPE",
    "citation_to_ir",
    "content_block_to_ir",
    "parse_error",
    "parse_response",
    "stop_reason_to_ir",
    "usage_to_ir",
    "web_search_result_to_ir",
]

STATUS_BY_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_NEUTRAL_KINDS = frozenset(STATUS_BY_ERROR_TYPE) - {"billing_error", "conflict_error"}


def parse_response(response: UpstreamResponse, ctx: RequestContext) -> ChatResponse:
    try:
        message = surrogates.decode_whole(response.body, Message)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise UpstreamError(f"unreadable Anthropic response: {exc}", status=502) from exc
    parts = tuple(content_block_to_ir(block, ctx) for block in message.content)
    return ChatResponse(
        id=message.id,
        model=message.model,
        parts=parts,
        stop_reason=stop_reason_to_ir(message.stop_reason, ctx),
        stop_sequence=message.stop_sequence,
        usage=usage_to_ir(message.usage),
    )


def stop_reason_to_ir(reason: str | None, ctx: RequestContext) -> StopReason:
    # IR StopReason values are Anthropic's own strings (ir/response.py).
    if reason is None:
        return StopReason.END_TURN
    try:
        return StopReason(reason)
    except ValueError:
        ctx.warn(f"unknown Anthropic stop_reason {reason!r} reported as end_turn")
        return StopReason.END_TURN


def usage_to_ir(usage: WireUsage | MessageDeltaUsage, base: Usage | None = None) -> Usage:
    """`base` holds earlier stream values: absent optional fields keep them (a
    message_delta has no `cache_creation`: message_start's split stands)."""
    prev = base or Usage()
    cache_read = usage.cache_read_input_tokens
    cache_write = usage.cache_creation_input_tokens
    cache_read = prev.cache_read_tokens if cache_read is None else cache_read
    cache_write = prev.cache_write_tokens if cache_write is None else cache_write
    if usage.input_tokens is None:
        input_total = prev.input_tokens - prev.cache_read_tokens - prev.cache_write_tokens
    else:
        input_total = usage.input_tokens
    server = usage.server_tool_use
    details = usage.output_tokens_details
    by_ttl = usage.cache_creation
    written_1h = by_ttl.ephemeral_1h_input_tokens if by_ttl else prev.cache_write_1h_tokens
    return Usage(
        input_tokens=input_total + cache_read + cache_write,
        output_tokens=usage.output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=min(written_1h, cache_write),
        reasoning_tokens=details.thinking_tokens if details else prev.reasoning_tokens,
        web_search_requests=server.web_search_requests if server else prev.web_search_requests,
    )


def content_block_to_ir(block: ContentBlock, ctx: RequestContext) -> Part:
    match block:
        case TextBlock():
            return TextPart(text=block.text, citations=citations_to_ir(block.citations, ctx))
        case ThinkingBlock():
            return ReasoningPart(text=block.thinking, signature=block.signature, origin=ORIGIN)
        case RedactedThinkingBlock():
            return ReasoningPart(signature=block.data, origin=ORIGIN, redacted=True)
        case ToolUseBlock():
            return ToolCallPart(id=block.id, name=block.name, arguments=bytes(block.input).decode())
        case ServerToolUseBlock():
            args = bytes(block.input).decode()
            return ServerToolCallPart(id=block.id, name=block.name, arguments=args)
        case WebSearchToolResultBlock():
            return web_search_result_to_ir(block)
        case _:
            assert_never(block)


def citations_to_ir(
    citations: list[TextCitation] | None, ctx: RequestContext
) -> tuple[Citation, ...]:
    if not citations:
        return ()
    out = tuple(c for c in (citation_to_ir(c, ctx) for c in citations) if c is not None)
    return out


def citation_to_ir(citation: TextCitation, ctx: RequestContext) -> Citation | None:
    if citation.type != "web_search_result_location" or citation.url is None:
        ctx.warn(f"{citation.type} citations are not carried by the gateway; dropped")
        return None
    return Citation(
        url=citation.url,
        title=citation.title,
        cited_text=citation.cited_text,
        encrypted_index=citation.encrypted_index,
    )


def web_search_result_to_ir(block: WebSearchToolResultBlock) -> ServerToolResultPart:
    content = block.content
    if isinstance(content, WebSearchToolResultError):
        return ServerToolResultPart(tool_call_id=block.tool_use_id, error_code=content.error_code)
    results = tuple(
        WebSearchResult(
            url=r.url, title=r.title, page_age=r.page_age, encrypted_content=r.encrypted_content
        )
        for r in content
    )
    return ServerToolResultPart(tool_call_id=block.tool_use_id, results=results)


def parse_error(response: UpstreamResponse) -> UpstreamError:
    status = response.status
    retry_after = response.headers.get("retry-after")
    # Read whatever the types of its members (error_body.error_object), as OpenAI's is.
    error = error_object(response.body) or {}
    message, wire_type = text(error.get("message")), text(error.get("type"))
    if not message:
        # Not Anthropic's shape: JSON text is kept, a proxy's page is only logged.
        message = foreign_error_message(response, "Anthropic")
    if status in (401, 403):
        return upstream_credential_error(status)
    kind = wire_type if wire_type in _NEUTRAL_KINDS else kind_for_status(status)
    limits = rate_limit_headers(response.headers)
    return UpstreamError(
        message, status=status, kind=kind, retry_after=retry_after, rate_limit_headers=limits
    )
