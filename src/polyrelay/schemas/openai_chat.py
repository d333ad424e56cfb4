"""OpenAI Chat Completions wire schemas, shared by the frontend and the provider.

Request-side Structs (`...Param`) omit defaults on output, so the provider encodes only
what it sets. Response-side Structs always write their nullable fields (`content: null`,
`logprobs: null`) as OpenAI does, and use UNSET for fields OpenAI leaves out when empty.
Unknown fields are ignored on decode. Field names follow openai-python 3.57 types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from polyrelay.schemas.openai_logprobs import ChoiceLogprobs

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
    "AssistantAudio",
    "ChatCompletion",
    "ChatCompletionAssistantMessageParam",
    "ChatCompletionChunk",
    "ChatCompletionContentPartImageParam",
    "ChatCompletionContentPartInputAudioParam",
    "ChatCompletionContentPartRefusalParam",
    "ChatCompletionContentPartTextParam",
    "ChatCompletionCreateParams",
    "ChatCompletionCreateParamsStrict",
    "ChatCompletionCustomToolChoiceParam",
    "ChatCompletionCustomToolParam",
    "ChatCompletionDeveloperMessageParam",
    "ChatCompletionFunctionMessageParam",
    "ChatCompletionFunctionToolParam",
    "ChatCompletionMessage",
    "ChatCompletionMessageCustomToolCallParam",
    "ChatCompletionMessageParam",
    "ChatCompletionMessageToolCall",
    "ChatCompletionNamedToolChoiceParam",
    "ChatCompletionSystemMessageParam",
    "ChatCompletionToolMessageParam",
    "ChatCompletionUserMessageParam",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChunkChoice",
    "CompletionTokensDetails",
    "CompletionUsage",
    "CustomToolCallInput",
    "ErrorObject",
    "ErrorResponse",
    "File",
    "FileFile",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionName",
    "ImageURL",
    "InputAudio",
    "JSONSchema",
    "LegacyFunction",
    "PromptTokensDetails",
    "ReasoningEffort",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "StreamOptions",
    "TextContent",
    "ToolChoiceAllowedTools",
    "ToolChoiceParam",
    "UserContentPart",
    "WebSearchOptions",
    "WebSearchOptionsUserLocation",
    "WebSearchOptionsUserLocationApproximate",
]

ToolName = Annotated[str, msgspec.Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
JSONObject = dict[str, Any]


class _Param(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of request-side shapes."""


# --- content parts ------------------------------------------------------------------


class ChatCompletionContentPartTextParam(_Param, tag="text", tag_field="type"):
    text: str
    cache_control: Any = None
    """Not OpenAI's: a prompt-cache breakpoint as LiteLLM and OpenRouter take it
    (`{"type": "ephemeral", "ttl"?: "5m" | "1h"}`), for Anthropic models; kept raw and
    checked by the frontend."""


class ImageURL(_Param):
    url: str
    detail: str | None = None


class ChatCompletionContentPartImageParam(_Param, tag="image_url", tag_field="type"):
    image_url: ImageURL


class InputAudio(_Param):
    data: str
    format: str


class ChatCompletionContentPartInputAudioParam(_Param, tag="input_audio", tag_field="type"):
    input_audio: InputAudio


class FileFile(_Param):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class File(_Param, tag="file", tag_field="type"):
    file: FileFile


class ChatCompletionContentPartRefusalParam(_Param, tag="refusal", tag_field="type"):
    refusal: str


class ChatCompletionContentPartThinkingParam(_Param, tag="thinking", tag_field="type"):
    """Mistral's reasoning models' (magistral) reasoning in an assistant message's
    content, as they answer it and a client sends it back: nested text (or `reference`)
    parts, read leniently (`UpstreamContentPart`)."""

    thinking: str | list[UpstreamContentPart] = ""


class ChatCompletionContentPartReferenceParam(_Param, tag="reference", tag_field="type"):
    """Mistral's citation of its tools' results (`reference_ids`) beside the text of an
    answer, sent back in the history as it came: nothing to carry elsewhere."""


UserContentPart = (
    ChatCompletionContentPartTextParam
    | ChatCompletionContentPartImageParam
    | ChatCompletionContentPartInputAudioParam
    | File
)
TextContent = str | list[ChatCompletionContentPartTextParam]

# --- messages -----------------------------------------------------------------------


class FunctionCall(_Param):
    name: str
    arguments: str


class ChatCompletionMessageToolCall(msgspec.Struct, kw_only=True, tag="function", tag_field="type"):
    """A function tool call; the same shape in requests and responses."""

    id: str
    function: FunctionCall


class CustomToolCallInput(_Param):
    name: str
    input: str


class ChatCompletionMessageCustomToolCallParam(_Param, tag="custom", tag_field="type"):
    """A call of a custom tool (OpenAI's own, free-form input) in an assistant message
    sent back: relayed as sent on the fast path, refused if translated."""

    id: str
    custom: CustomToolCallInput


class ChatCompletionSystemMessageParam(_Param, tag="system", tag_field="role"):
    content: TextContent
    name: str | None = None
    cache_control: Any = None
    """A breakpoint on the whole message (its last text part), as on a text part."""


class ChatCompletionDeveloperMessageParam(_Param, tag="developer", tag_field="role"):
    content: TextContent
    name: str | None = None
    cache_control: Any = None
    """A breakpoint on the whole message (its last text part), as on a text part."""


class ChatCompletionUserMessageParam(_Param, tag="user", tag_field="role"):
    content: str | list[UserContentPart]
    name: str | None = None
    cache_control: Any = None
    """A breakpoint on the whole message (its last text part), as on a text part."""


class AssistantAudio(_Param):
    """An earlier audio answer, sent back by its id: only OpenAI holds the audio."""

    id: str


class ChatCompletionAssistantMessageParam(_Param, tag="assistant", tag_field="role"):
    content: (
        str
        | list[
            ChatCompletionContentPartTextParam
            | ChatCompletionContentPartRefusalParam
            | ChatCompletionContentPartThinkingParam
            | ChatCompletionContentPartReferenceParam
        ]
        | None
    ) = None
    tool_calls: (
        list[ChatCompletionMessageToolCall | ChatCompletionMessageCustomToolCallParam] | None
    ) = None
    refusal: str | None = None
    name: str | None = None
    function_call: FunctionCall | None = None
    """The legacy `functions` API's one call (no id): answered by a `function` message."""
    audio: AssistantAudio | None = None
    cache_control: Any = None
    """A breakpoint on the whole message (its last text part), as on a text part."""


class ChatCompletionToolMessageParam(_Param, tag="tool", tag_field="role"):
    content: TextContent
    tool_call_id: str
    cache_control: Any = None
    """A breakpoint on the whole message (its last text part), as on a text part."""


class ChatCompletionFunctionMessageParam(_Param, tag="function", tag_field="role"):
    """The legacy `functions` API's result: it names the function, not a call id."""

    name: str
    content: str | None


ChatCompletionMessageParam = (
    ChatCompletionSystemMessageParam
    | ChatCompletionDeveloperMessageParam
    | ChatCompletionUserMessageParam
    | ChatCompletionAssistantMessageParam
    | ChatCompletionToolMessageParam
    | ChatCompletionFunctionMessageParam
)

# --- tools, tool_choice, response_format --------------------------------------------


class FunctionDefinition(_Param):
    name: ToolName
    description: str | None = None
    parameters: JSONObject | None = None
    strict: bool | None = None


class ChatCompletionFunctionToolParam(_Param, tag="function", tag_field="type"):
    function: FunctionDefinition


class ChatCompletionCustomToolParam(_Param, tag="custom", tag_field="type"):
    custom: JSONObject


class FunctionName(_Param):
    name: str


class ChatCompletionNamedToolChoiceParam(_Param, tag="function", tag_field="type"):
    function: FunctionName


class _AllowedTools(_Param):
    mode: Literal["auto", "required"]
    tools: list[ChatCompletionNamedToolChoiceParam]


class ToolChoiceAllowedTools(_Param, tag="allowed_tools", tag_field="type"):
    allowed_tools: _AllowedTools


class ChatCompletionCustomToolChoiceParam(_Param, tag="custom", tag_field="type"):
    custom: JSONObject


ToolChoiceParam = (
    Literal["none", "auto", "required"]
    | ChatCompletionNamedToolChoiceParam
    | ToolChoiceAllowedTools
    | ChatCompletionCustomToolChoiceParam
)


class ResponseFormatText(_Param, tag="text", tag_field="type"):
    pass


class ResponseFormatJSONObject(_Param, tag="json_object", tag_field="type"):
    pass


class JSONSchema(_Param):
    name: ToolName
    description: str | None = None
    schema: JSONObject | None = None
    strict: bool | None = None


class ResponseFormatJSONSchema(_Param, tag="json_schema", tag_field="type"):
    json_schema: JSONSchema


ResponseFormat = ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema


class StreamOptions(_Param):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class LegacyFunction(_Param):
    name: ToolName
    description: str | None = None
    parameters: JSONObject | None = None


class WebSearchOptionsUserLocationApproximate(_Param):
    city: str | None = None
    region: str | None = None
    country: str | None = None
    timezone: str | None = None


class WebSearchOptionsUserLocation(_Param, tag="approximate", tag_field="type"):
    approximate: WebSearchOptionsUserLocationApproximate


class WebSearchOptions(_Param):
    search_context_size: Literal["low", "medium", "high"] | None = None
    user_location: WebSearchOptionsUserLocation | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class ChatCompletionCreateParams(_Param):
    """The request body. Range checks live in the frontend decoder, which words its
    errors the way OpenAI does (msgspec only checks types here)."""

    model: str
    messages: list[ChatCompletionMessageParam]
    max_completion_tokens: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[ChatCompletionFunctionToolParam | ChatCompletionCustomToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    parallel_tool_calls: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    user: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    metadata: dict[str, str] | None = None
    web_search_options: WebSearchOptions | None = None
    safety_identifier: str | None = None
    functions: list[LegacyFunction] | None = None
    function_call: Literal["none", "auto"] | FunctionName | None = None
    async_: bool | None = msgspec.field(default=None, name="async")
    """The service's async task mode (DESIGN.md): `true` never reaches the decoder (the
    task engine takes the request); `false` is the plain call. Never sent upstream."""
    # Kept raw (never parsed): the decoder checks them as OpenAI does, and the fast path
    # relays whatever was sent.
    logprobs: Any = None
    top_logprobs: Any = None
    # Known fields the IR cannot carry: kept raw (never parsed) so the decoder can warn.
    logit_bias: Any = None
    modalities: Any = None
    audio: Any = None
    prediction: Any = None
    service_tier: Any = None
    store: Any = None
    prompt_cache_key: Any = None
    prompt_cache_retention: Any = None
    prompt_cache_options: Any = None
    verbosity: Any = None
    moderation: Any = None
    top_k: Any = None
    """Not OpenAI's: OpenAI-compatible servers' (vLLM, SGLang), sent in the SDK's
    extra_body; kept raw as the fields above, the IR carries an integer one."""


class ChatCompletionCreateParamsStrict(ChatCompletionCreateParams, forbid_unknown_fields=True):
    """The same body, failing on unknown top-level fields: the decoder's fast path; it
    falls back to the lenient type (and warns) only when a client sends extra fields."""


# --- response -----------------------------------------------------------------------


class AnnotationURLCitation(msgspec.Struct, kw_only=True):
    start_index: int
    end_index: int
    url: str
    title: str = ""


class Annotation(msgspec.Struct, kw_only=True, tag="url_citation", tag_field="type"):
    url_citation: AnnotationURLCitation


class UpstreamContentPart(msgspec.Struct, kw_only=True):
    """A part of an upstream's array `content` (Mistral's reasoning models, magistral):
    `{"type": "text", "text": ...}`, `{"type": "thinking", "thinking": [text parts]}`,
    or another type (`reference`...). Read only: the gateway always writes a str, and
    one untagged Struct keeps an unknown type readable, to be warned and dropped."""

    type: str = ""
    text: str | None = None
    thinking: str | list[UpstreamContentPart] | None = None


class ChatCompletionMessage(msgspec.Struct, kw_only=True):
    role: str = "assistant"
    content: str | list[UpstreamContentPart] | None = None
    """A str, but for some upstreams' array (`UpstreamContentPart`); written as a str."""
    refusal: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | UnsetType = UNSET
    annotations: list[Annotation] | UnsetType = UNSET
    reasoning_content: str | UnsetType | None = UNSET
    """Non-standard (DeepSeek, vLLM): reasoning text."""
    reasoning: str | UnsetType | None = UNSET
    """Non-standard (OpenRouter, Ollama): reasoning text; read only."""
    function_call: FunctionCall | UnsetType | None = UNSET
    """The legacy `functions` API's one call (no id); read only."""


class Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: ChatCompletionMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None


class PromptTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int = 0
    audio_tokens: int = 0
    """OpenAI's audio input; written 0 as OpenAI writes it (no other upstream has audio)."""
    cache_write_tokens: int | UnsetType = UNSET
    """Newer (openai-python 3.57): written to the cache, within `prompt_tokens` as the
    cached ones are; left out when there are none, as OpenAI leaves it out."""


class CompletionTokensDetails(msgspec.Struct, kw_only=True):
    """OpenAI writes every count, 0 when there is none; audio output and Predicted Outputs
    are OpenAI's own, so 0 on a translated answer."""

    reasoning_tokens: int = 0
    audio_tokens: int = 0
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class CompletionUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatCompletion(msgspec.Struct, kw_only=True):
    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice]
    usage: CompletionUsage | None = None


# --- stream -------------------------------------------------------------------------


class ChoiceDeltaToolCallFunction(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int | None = None
    """Always sent by OpenAI (and by the gateway); some compatible servers leave it out,
    and the stream parser infers it."""
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class ChoiceDelta(msgspec.Struct, kw_only=True, omit_defaults=True):
    role: str | None = None
    content: str | list[UpstreamContentPart] | None = None
    """A str, but for some upstreams' array (`UpstreamContentPart`); written as a str."""
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    function_call: ChoiceDeltaToolCallFunction | None = None
    """The legacy `functions` API's call, in fragments with no index or id; read only."""


class ChunkChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    logprobs: ChoiceLogprobs | None = None
    """Read only (the renderer writes its chunks from pieces)."""
    finish_reason: str | None = None


class ChatCompletionChunk(msgspec.Struct, kw_only=True):
    id: str = ""
    model: str = ""
    choices: list[ChunkChoice] = []
    usage: CompletionUsage | None = None
    error: ErrorObject | None = None
    """Set on an in-band error event (`data: {"error": {...}}`)."""


# --- errors -------------------------------------------------------------------------


class ErrorObject(msgspec.Struct, kw_only=True):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class ErrorResponse(msgspec.Struct, kw_only=True):
    error: ErrorObject
