"""OpenAI Responses request-side schemas (`POST /v1/responses`).

Input items, content parts, tools and tool choices are *flat* Structs with a `type`
string rather than tagged unions, for two reasons: the "easy message" item has no `type`
at all (protocols/openai-responses.md §2), and clients such as Codex send item and tool
types the gateway does not model (`tool_search`, `namespace`, `custom`, ...), which must
decode so the frontend can map them or drop them with a warning instead of failing the
whole body. Request-side Structs omit defaults on output, so the provider encodes only
what it sets. Field names follow openai-python 3.57.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = [
    "ContentPartParam",
    "InputItemParam",
    "ReasoningParam",
    "ResponseCreateParams",
    "ResponseCreateParamsStrict",
    "SummaryTextParam",
    "TextConfigParam",
    "TextFormatParam",
    "ToolChoiceParam",
    "ToolParam",
    "UserLocationParam",
    "WebSearchFiltersParam",
]

Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
TopP = Annotated[float, msgspec.Meta(ge=0, le=1)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class ContentPartParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    """input_text / output_text / refusal / input_image / input_file (and output parts
    of function_call_output); which fields are set depends on `type`."""

    type: str
    text: str | None = None
    refusal: str | None = None
    image_url: str | None = None
    detail: str | None = None
    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None
    annotations: list[Any] | None = None
    prompt_cache_breakpoint: dict[str, Any] | None = None


class SummaryTextParam(msgspec.Struct, kw_only=True):
    text: str
    type: str = "summary_text"


class InputItemParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One `input` item; a missing `type` (None) means an easy message."""

    type: str | None = None
    id: str | None = None
    status: str | None = None
    role: str | None = None
    content: str | list[ContentPartParam] | None = None
    phase: str | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    output: str | list[ContentPartParam] | None = None
    input: str | None = None
    summary: list[SummaryTextParam] | None = None
    encrypted_content: str | None = None
    action: dict[str, Any] | None = None


class UserLocationParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str | None = None
    """Always "approximate"; set explicitly so it is written."""
    city: str | None = None
    region: str | None = None
    country: str | None = None
    timezone: str | None = None


class WebSearchFiltersParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    allowed_domains: list[str] | None = None


class ToolParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    """function / namespace (a group of functions) / custom / web_search* / others."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    tools: list[ToolParam] | None = None
    format: dict[str, Any] | None = None
    filters: WebSearchFiltersParam | None = None
    user_location: UserLocationParam | None = None
    search_context_size: str | None = None
    external_web_access: bool | None = None
    search_content_types: list[str] | None = None
    execution: str | None = None
    output_schema: dict[str, Any] | None = None
    defer_loading: bool | None = None
    allowed_callers: list[str] | None = None


class ToolChoiceParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`{type:"function",name}`, `{type:"allowed_tools",mode,tools}`, hosted-tool types."""

    type: str
    name: str | None = None
    mode: str | None = None
    tools: list[ToolChoiceParam] | None = None


class ReasoningParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None
    mode: str | None = None
    context: str | None = None


class TextFormatParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Flat: `name`, `schema`, `strict`, `description` sit directly in `format`."""

    type: str
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextConfigParam(msgspec.Struct, kw_only=True, omit_defaults=True):
    format: TextFormatParam | None = None
    verbosity: str | None = None


class ResponseCreateParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    model: str
    input: str | list[InputItemParam] | None = None
    instructions: str | None = None
    max_output_tokens: PositiveInt | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: bool | None = None
    tools: list[ToolParam] | None = None
    tool_choice: str | ToolChoiceParam | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: PositiveInt | None = None
    reasoning: ReasoningParam | None = None
    text: TextConfigParam | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool | None = None
    include: list[str] | None = None
    truncation: str | None = None
    background: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    service_tier: str | None = None
    top_logprobs: int | None = None
    client_metadata: dict[str, Any] | None = None


class ResponseCreateParamsStrict(ResponseCreateParams, forbid_unknown_fields=True):
    """The same body, failing on unknown top-level fields: the decoder's fast path; it
    falls back to the lenient type (and warns) only when a client sends extra fields."""
