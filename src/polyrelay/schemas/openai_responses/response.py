"""OpenAI Responses response-side schemas: the Response object, its output items, usage
and the error body.

Output items are one flat Struct (`ResponseOutputItem`) keyed by `type`, so a parser is
not broken by item types the gateway does not model (`file_search_call`, `mcp_call`, ...);
it omits unset fields on output, so each item type writes exactly its own fields. The
Response itself writes its nullable fields (`error: null`, `usage: null`, ...) as OpenAI
does. Field names follow openai-python 3.57 (`types/responses/response.py`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from polyrelay.schemas.openai_logprobs import TokenLogprob
from polyrelay.schemas.openai_responses.request import (
    SummaryTextParam,
    TextConfigParam,
    ToolChoiceParam,
    ToolParam,
)

__all__ = [
    "ErrorObject",
    "ErrorResponse",
    "IncompleteDetails",
    "InputTokensDetails",
    "OutputTokensDetails",
    "Reasoning",
    "Response",
    "ResponseError",
    "ResponseOutputContent",
    "ResponseOutputItem",
    "ResponseUsage",
    "URLCitation",
    "WebSearchAction",
]


class URLCitation(msgspec.Struct, kw_only=True):
    """An output_text annotation; only `url_citation` is mapped, others are kept as read."""

    type: str = "url_citation"
    url: str | None = None
    title: str | None = None
    start_index: int | None = None
    end_index: int | None = None


class ResponseOutputContent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`output_text` (text, annotations, logprobs) or `refusal` (refusal)."""

    type: str
    text: str | None = None
    annotations: list[URLCitation] | None = None
    logprobs: list[TokenLogprob] | None = None
    refusal: str | None = None


class WebSearchAction(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str | None = None
    """search / open_page / find_in_page; always set on output."""
    query: str | None = None
    queries: list[str] | None = None
    url: str | None = None
    pattern: str | None = None
    sources: list[dict[str, Any]] | None = None


class ResponseOutputItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """message / reasoning / function_call / custom_tool_call / web_search_call / other."""

    type: str
    id: str | None = None
    status: str | None = None
    role: str | None = None
    content: list[ResponseOutputContent] | None = None
    phase: str | None = None
    summary: list[SummaryTextParam] | None = None
    encrypted_content: str | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    input: str | None = None
    action: WebSearchAction | None = None


class InputTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    """Required by openai-python 3.57 (newer than the protocol reference)."""


class OutputTokensDetails(msgspec.Struct, kw_only=True):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct, kw_only=True):
    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)
    total_tokens: int = 0


class IncompleteDetails(msgspec.Struct, kw_only=True):
    reason: str | None = None


class ResponseError(msgspec.Struct, kw_only=True):
    code: str | None = None
    message: str = ""


class Reasoning(msgspec.Struct, kw_only=True):
    effort: str | None = None
    summary: str | None = None


class Response(msgspec.Struct, kw_only=True):
    id: str
    object: str = "response"
    created_at: float = 0
    status: str | None = None
    completed_at: int | float | None = None
    model: str = ""
    output: list[ResponseOutputItem] = msgspec.field(default_factory=list)
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    parallel_tool_calls: bool = True
    tool_choice: str | ToolChoiceParam = "auto"
    tools: list[ToolParam] = msgspec.field(default_factory=list)
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    reasoning: Reasoning | None = None
    text: TextConfigParam | None = None
    truncation: str | None = None
    store: bool | None = None
    background: bool | None = None
    user: str | None = None
    usage: ResponseUsage | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class ErrorObject(msgspec.Struct, kw_only=True):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | None = None


class ErrorResponse(msgspec.Struct, kw_only=True):
    error: ErrorObject
