"""Anthropic Messages wire schemas, shared by the frontend and the provider.

Request-side Structs (`...Param`) omit defaults on output, so the provider encodes only
what it sets. Content blocks that are the same on both sides (thinking, tool_use,
server_tool_use, web_search_tool_result) are one Struct each. Response-side Structs
keep `stop_reason` / `stop_sequence` required so they are always written, as the API
does. Unknown fields are ignored on decode. Field names follow anthropic-python 2.x types.

`tool_use.input` is `msgspec.Raw`: the JSON text is carried between the wire and the
IR's `ToolCallPart.arguments` without being parsed and re-serialised.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "Base64Source",
    "CacheControl",
    "CacheCreation",
    "CitationsDelta",
    "ContentBlock",
    "ContentBlockParam",
    "ContentSource",
    "DocumentBlockParam",
    "ErrorObject",
    "ErrorResponse",
    "FileBlockParam",
    "FileDataBlockParam",
    "FileSource",
    "ImageBlockParam",
    "InputJSONDelta",
    "Message",
    "MessageCountTokensParams",
    "MessageCreateParams",
    "MessageCreateParamsStrict",
    "MessageDelta",
    "MessageDeltaUsage",
    "MessageParam",
    "Metadata",
    "OutputConfig",
    "OutputFormatParam",
    "OutputTokensDetails",
    "PingEvent",
    "PlainTextSource",
    "RawContentBlockDelta",
    "RawContentBlockDeltaEvent",
    "RawContentBlockStartEvent",
    "RawContentBlockStopEvent",
    "RawErrorEvent",
    "RawMessageDeltaEvent",
    "RawMessageStartEvent",
    "RawMessageStopEvent",
    "RawMessageStreamEvent",
    "RedactedThinkingBlock",
    "ServerToolUsage",
    "ServerToolUseBlock",
    "SignatureDelta",
    "Source",
    "TextBlock",
    "TextCitation",
    "TextDelta",
    "ThinkingBlock",
    "ThinkingConfigParam",
    "ThinkingDelta",
    "ToolChoiceParam",
    "ToolParam",
    "ToolResultBlockParam",
    "ToolResultContentParam",
    "ToolUseBlock",
    "URLSource",
    "Usage",
    "UserLocationParam",
    "WebSearchResultBlock",
    "WebSearchToolResultBlock",
    "WebSearchToolResultError",
]

JSONObject = dict[str, Any]
UnitFloat = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


class _Param(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every shape: keyword-only, defaults left out on output."""


class CacheControl(_Param, kw_only=True):
    type: str
    ttl: str | None = None


# --- sources --------------------------------------------------------------------------


class Base64Source(_Param, kw_only=True, tag="base64", tag_field="type"):
    media_type: str
    data: str


class URLSource(_Param, kw_only=True, tag="url", tag_field="type"):
    url: str


class PlainTextSource(msgspec.Struct, kw_only=True, tag="text", tag_field="type"):
    """`media_type` is always written: the API requires it (the default only keeps
    decoding a client's body lenient)."""

    data: str
    media_type: str = "text/plain"


class FileSource(_Param, kw_only=True, tag="file", tag_field="type"):
    file_id: str


class ContentSource(_Param, kw_only=True, tag="content", tag_field="type"):
    content: str | list[JSONObject]


Source = Base64Source | URLSource | PlainTextSource | FileSource | ContentSource


# --- content blocks -------------------------------------------------------------------


class TextCitation(_Param, kw_only=True):
    """Every citation variant in one shape (char/page/content_block/web/search_result)."""

    type: str
    cited_text: str | None = None
    url: str | None = None
    title: str | None = None
    encrypted_index: str | None = None
    document_index: int | None = None
    document_title: str | None = None
    start_char_index: int | None = None
    end_char_index: int | None = None
    start_page_number: int | None = None
    end_page_number: int | None = None
    start_block_index: int | None = None
    end_block_index: int | None = None
    source: str | None = None
    search_result_index: int | None = None


class TextBlock(_Param, kw_only=True, tag="text", tag_field="type"):
    text: str
    citations: list[TextCitation] | None = None
    cache_control: CacheControl | None = None


class ImageBlockParam(_Param, kw_only=True, tag="image", tag_field="type"):
    source: Source
    cache_control: CacheControl | None = None


class DocumentBlockParam(_Param, kw_only=True, tag="document", tag_field="type"):
    source: Source
    title: str | None = None
    context: str | None = None
    citations: JSONObject | None = None
    cache_control: CacheControl | None = None


class FileBlockParam(_Param, kw_only=True, tag="file", tag_field="type"):
    """Service addition: a file routed by its media type (image/* is an image)."""

    source: Source
    media_type: str | None = None
    title: str | None = None
    filename: str | None = None
    cache_control: CacheControl | None = None


class FileDataBlockParam(_Param, kw_only=True, tag="file_data", tag_field="type"):
    """Service addition: inline `data` + `media_type` with no `source` wrapper."""

    data: str
    media_type: str
    filename: str | None = None
    title: str | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(_Param, kw_only=True, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: msgspec.Raw
    cache_control: CacheControl | None = None


ToolResultContentParam = TextBlock | ImageBlockParam | DocumentBlockParam


class ToolResultBlockParam(_Param, kw_only=True, tag="tool_result", tag_field="type"):
    tool_use_id: str
    content: str | list[ToolResultContentParam] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(_Param, kw_only=True, tag="thinking", tag_field="type"):
    thinking: str
    signature: str


class RedactedThinkingBlock(_Param, kw_only=True, tag="redacted_thinking", tag_field="type"):
    data: str


class ServerToolUseBlock(_Param, kw_only=True, tag="server_tool_use", tag_field="type"):
    id: str
    name: str
    input: msgspec.Raw
    cache_control: CacheControl | None = None


class WebSearchResultBlock(_Param, kw_only=True, tag="web_search_result", tag_field="type"):
    url: str
    title: str
    encrypted_content: str
    page_age: str | None = None


class WebSearchToolResultError(
    _Param, kw_only=True, tag="web_search_tool_result_error", tag_field="type"
):
    error_code: str


class WebSearchToolResultBlock(
    _Param, kw_only=True, tag="web_search_tool_result", tag_field="type"
):
    tool_use_id: str
    # anthropic-messages.md §4.2: an array of results, or one error object.
    content: list[WebSearchResultBlock] | WebSearchToolResultError
    cache_control: CacheControl | None = None


ContentBlockParam = (
    TextBlock
    | ImageBlockParam
    | DocumentBlockParam
    | FileBlockParam
    | FileDataBlockParam
    | ToolUseBlock
    | ToolResultBlockParam
    | ThinkingBlock
    | RedactedThinkingBlock
    | ServerToolUseBlock
    | WebSearchToolResultBlock
)

ContentBlock = (
    TextBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ToolUseBlock
    | ServerToolUseBlock
    | WebSearchToolResultBlock
)


class MessageParam(_Param, kw_only=True):
    # "system" is new in API 2026-10-21 (anthropic-messages.md §3); Claude Code sends it.
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlockParam]


# --- tools and request options ----------------------------------------------------------


class UserLocationParam(_Param, kw_only=True):
    type: str
    city: str | None = None
    region: str | None = None
    country: str | None = None
    timezone: str | None = None


class ToolParam(_Param, kw_only=True):
    """Custom tools (no `type`, or `custom`) and server tools in one shape, since the
    custom form has no tag to dispatch on."""

    type: str | None = None
    name: str
    description: str | None = None
    input_schema: JSONObject | None = None
    strict: bool | None = None
    cache_control: CacheControl | None = None
    max_uses: int | None = None
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None
    user_location: UserLocationParam | None = None
    # Newer custom-tool options (anthropic-python 2.x); decoded so a translation can map
    # or warn of them rather than lose them unseen.
    input_examples: list[Any] | None = None
    defer_loading: bool | None = None
    eager_input_streaming: bool | None = None
    allowed_callers: list[str] | None = None


class ToolChoiceParam(_Param, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingConfigParam(_Param, kw_only=True):
    type: str
    budget_tokens: int | None = None
    display: str | None = None


class OutputFormatParam(_Param, kw_only=True):
    type: str
    schema: JSONObject | None = None


class OutputConfig(_Param, kw_only=True):
    effort: str | None = None
    format: OutputFormatParam | None = None


class Metadata(_Param, kw_only=True):
    user_id: str | None = None


class MessageCreateParams(_Param, kw_only=True):
    """`model` and `max_tokens` are optional and `messages` may be a string: service
    additions (DESIGN.md); the frontend fills the defaults."""

    model: str | None = None
    messages: str | list[MessageParam]
    max_tokens: int | None = None
    system: str | list[TextBlock] | None = None
    temperature: UnitFloat | None = None
    top_p: UnitFloat | None = None
    top_k: NonNegativeInt | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    metadata: Metadata | None = None
    thinking: ThinkingConfigParam | None = None
    output_config: OutputConfig | None = None
    async_: bool | None = msgspec.field(default=None, name="async")
    """The service's async task mode (DESIGN.md): `true` never reaches the decoder (the
    task engine takes the request); `false` is the plain call. Never sent upstream."""
    # Known fields the IR cannot carry: decoded only to be reported (ctx.warn).
    service_tier: Any = None
    context_management: Any = None
    container: Any = None
    mcp_servers: Any = None
    inference_geo: Any = None
    speed: Any = None
    diagnostics: Any = None
    cache_control: Any = None


class MessageCreateParamsStrict(MessageCreateParams, kw_only=True, forbid_unknown_fields=True):
    """The same body, failing on unknown top-level fields: the decoder's fast path; it
    falls back to the lenient type (and warns) only when a client sends extra fields."""


class MessageCountTokensParams(_Param, kw_only=True):
    model: str
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingConfigParam | None = None


# --- response ---------------------------------------------------------------------------


class ServerToolUsage(msgspec.Struct, kw_only=True):
    """Both counts are always written (the SDK's ServerToolUsage requires them); the
    defaults only keep decoding an upstream's older shape lenient."""

    web_search_requests: int = 0
    web_fetch_requests: int = 0


class OutputTokensDetails(msgspec.Struct, kw_only=True):
    """Newer (anthropic-python 2.x): the thinking within `output_tokens`."""

    thinking_tokens: int = 0


class CacheCreation(msgspec.Struct, kw_only=True):
    """The cache writes by lifetime (they are billed at different rates); both counts are
    always written, as the SDK's CacheCreation requires them."""

    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class Usage(msgspec.Struct, kw_only=True):
    """Written in full: the SDK requires `input_tokens` and `output_tokens` even when 0
    (a stream's message_start, a reply with no output), so defaults are not omitted;
    an unset optional count is written as null, which the SDK's Optional fields take.
    The defaults keep decoding an upstream's body lenient."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | UnsetType | None = UNSET
    """`cache_creation_input_tokens` by lifetime; left out when not known (an upstream's
    usage without it, as Anthropic's older answers)."""
    server_tool_use: ServerToolUsage | None = None
    output_tokens_details: OutputTokensDetails | UnsetType | None = UNSET
    """Left out when not known, as it is from an upstream that does not report it."""


class Message(msgspec.Struct, kw_only=True, tag="message", tag_field="type"):
    """Written in full (nullable stop fields included), as the API does."""

    id: str
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage


# --- stream events ----------------------------------------------------------------------


class TextDelta(_Param, kw_only=True, tag="text_delta", tag_field="type"):
    text: str


class InputJSONDelta(_Param, kw_only=True, tag="input_json_delta", tag_field="type"):
    partial_json: str


class ThinkingDelta(_Param, kw_only=True, tag="thinking_delta", tag_field="type"):
    thinking: str


class SignatureDelta(_Param, kw_only=True, tag="signature_delta", tag_field="type"):
    signature: str


class CitationsDelta(_Param, kw_only=True, tag="citations_delta", tag_field="type"):
    citation: TextCitation


RawContentBlockDelta = TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta | CitationsDelta


class RawMessageStartEvent(_Param, kw_only=True, tag="message_start", tag_field="type"):
    message: Message


class RawContentBlockStartEvent(_Param, kw_only=True, tag="content_block_start", tag_field="type"):
    index: int
    content_block: ContentBlock


class RawContentBlockDeltaEvent(_Param, kw_only=True, tag="content_block_delta", tag_field="type"):
    index: int
    delta: RawContentBlockDelta


class RawContentBlockStopEvent(_Param, kw_only=True, tag="content_block_stop", tag_field="type"):
    index: int


class MessageDelta(msgspec.Struct, kw_only=True):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDeltaUsage(_Param, kw_only=True):
    output_tokens: int
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | UnsetType | None = UNSET
    """Not in the SDK's MessageDeltaUsage (message_start tells it): read if sent; the
    gateway sends it only when message_start's split was not the final one."""
    server_tool_use: ServerToolUsage | None = None
    output_tokens_details: OutputTokensDetails | UnsetType | None = UNSET


class RawMessageDeltaEvent(_Param, kw_only=True, tag="message_delta", tag_field="type"):
    delta: MessageDelta
    usage: MessageDeltaUsage


class RawMessageStopEvent(_Param, kw_only=True, tag="message_stop", tag_field="type"):
    pass


class PingEvent(_Param, kw_only=True, tag="ping", tag_field="type"):
    pass


class ErrorObject(_Param, kw_only=True):
    type: str
    message: str


class RawErrorEvent(_Param, kw_only=True, tag="error", tag_field="type"):
    error: ErrorObject


RawMessageStreamEvent = (
    RawMessageStartEvent
    | RawContentBlockStartEvent
    | RawContentBlockDeltaEvent
    | RawContentBlockStopEvent
    | RawMessageDeltaEvent
    | RawMessageStopEvent
    | PingEvent
    | RawErrorEvent
)


class ErrorResponse(_Param, kw_only=True, tag="error", tag_field="type"):
    error: ErrorObject
    request_id: str | None = None
