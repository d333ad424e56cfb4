"""OpenAI Responses body / error body → IR ChatResponse / UpstreamError.

Item mapping (translation.md §9.2 R): message `output_text` parts → TextParts (one per
part, `url_citation` annotations → Citations), `reasoning` → ReasoningPart (summary texts
joined, `encrypted_content` as the signature), `function_call` → ToolCallPart (`call_id`
is the id, the `fc_…` item id goes in extensions; empty arguments become `{}`, since `""`
is not JSON), `web_search_call` → ServerToolCallPart.
"""

from __future__ import annotations

import msgspec

from polyrelay.codec import DecodeError, encode_str
from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError, kind_for_status
from polyrelay.ir import (
    ChatResponse,
    Citation,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import surrogates
from polyrelay.providers.openai_logprobs import tokens_to_ir
from polyrelay.providers.openai_responses.request import ITEM_ID_KEY, PROVIDER_TYPE
from polyrelay.schemas.openai_responses import (
    Response,
    ResponseOutputContent,
    ResponseOutputItem,
    ResponseUsage,
    URLCitation,
    WebSearchAction,
)

__all__ = [
    "REASONING_SEPARATOR",
    "citation_to_ir",
    "failure_to_ir",
    "item_to_ir",
    "response_to_ir",
    "status_for_code",
    "stop_reason_to_ir",
    "usage_to_ir",
    "web_search_to_ir",
]

REASONING_SEPARATOR = "\n\n"
"""Joins the texts of a reasoning item's summary parts into one ReasoningPart text."""

# Error codes of a failed response (response.error.code) → the HTTP status they stand for.
# (A stream's `error` event too.) The request's own faults are a 400, which clients do not
# retry and Claude Code reads (a context too long is compacted); a 500 they retry in vain.
_STATUS_BY_CODE = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "invalid_prompt": 400,
    "context_length_exceeded": 400,
    "server_error": 500,
    "server_is_overloaded": 503,
    "vector_store_timeout": 504,
}


def response_to_ir(body: bytes, ctx: RequestContext) -> ChatResponse:
    try:
        response = surrogates.decode_whole(body, Response)
    except (msgspec.ValidationError, DecodeError) as exc:
        raise UpstreamError(f"invalid OpenAI Responses body: {exc}", status=502) from exc
    if response.status == "failed":
        failure = failure_to_ir(response)
        failure.usage = usage_to_ir(response.usage, [])  # billed all the same
        raise failure
    parts: list[Part] = []
    for item in response.output:
        parts.extend(item_to_ir(item, ctx))
    usage = usage_to_ir(response.usage, parts)
    return ChatResponse(
        id=response.id,
        model=response.model,
        parts=tuple(parts),
        stop_reason=stop_reason_to_ir(response, parts),
        usage=usage,
    )


_RAW = "reasoning_text"
"""A reasoning item's content part holding the reasoning itself, not a summary of it."""


def item_to_ir(item: ResponseOutputItem, ctx: RequestContext) -> list[Part]:
    match item.type:
        case "message":
            return [_content_to_ir(c) for c in item.content or ()]
        case "reasoning":
            text = REASONING_SEPARATOR.join(s.text for s in item.summary or ())
            if not text:  # open models' servers (gpt-oss on vLLM) give the reasoning itself
                text = "".join(c.text or "" for c in item.content or () if c.type == _RAW)
            return [
                ReasoningPart(text=text, signature=item.encrypted_content, origin=PROVIDER_TYPE)
            ]
        case "function_call":
            extensions = {ITEM_ID_KEY: item.id} if item.id else {}
            call = ToolCallPart(
                id=item.call_id or "", name=item.name or "", arguments=item.arguments or "{}"
            )
            return [msgspec.structs.replace(call, extensions=extensions)]
        case "web_search_call":
            return [web_search_to_ir(item)]
        case _:
            ctx.warn(f"OpenAI Responses output item {item.type!r} is not supported; dropped")
            return []


def _content_to_ir(content: ResponseOutputContent) -> TextPart:
    if content.type == "refusal":
        return TextPart(text=content.refusal or "", refusal=True)
    cites = tuple(citation_to_ir(a) for a in content.annotations or () if a.type == "url_citation")
    tokens = tokens_to_ir(content.logprobs) if content.logprobs else None  # `[]` unasked
    return TextPart(text=content.text or "", citations=cites, logprobs=tokens)


def citation_to_ir(annotation: URLCitation) -> Citation:
    return Citation(
        url=annotation.url or "",
        title=annotation.title,
        start_index=annotation.start_index,
        end_index=annotation.end_index,
    )


def web_search_to_ir(item: ResponseOutputItem) -> ServerToolCallPart:
    action = item.action or WebSearchAction()
    args = {"query": action.query} if action.query is not None else {}
    return ServerToolCallPart(id=item.id or "", name="web_search", arguments=encode_str(args))


def usage_to_ir(usage: ResponseUsage | None, parts: list[Part]) -> Usage:
    searches = sum(1 for p in parts if isinstance(p, ServerToolCallPart))
    if usage is None:
        return Usage(web_search_requests=searches)
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.input_tokens_details.cached_tokens,
        cache_write_tokens=usage.input_tokens_details.cache_write_tokens,
        reasoning_tokens=usage.output_tokens_details.reasoning_tokens,
        web_search_requests=searches,
    )


def stop_reason_to_ir(response: Response, parts: list[Part]) -> StopReason:
    if response.status == "incomplete":
        reason = response.incomplete_details.reason if response.incomplete_details else None
        return StopReason.REFUSAL if reason == "content_filter" else StopReason.MAX_TOKENS
    if any(isinstance(p, ToolCallPart) for p in parts):
        return StopReason.TOOL_USE
    return StopReason.END_TURN


def status_for_code(code: str | None) -> int:
    """The HTTP status a failed response's (or an `error` event's) code stands for."""
    return _STATUS_BY_CODE.get(code or "", 500)


def failure_to_ir(response: Response) -> UpstreamError:
    error = response.error
    code = error.code if error else None
    status = status_for_code(code)
    message = error.message if error and error.message else "the upstream response failed"
    return UpstreamError(message, status=status, kind=kind_for_status(status), code=code)
