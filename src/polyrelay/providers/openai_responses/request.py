"""IR ChatRequest → OpenAI Responses request body (`POST {base_url}/responses`).

The gateway keeps conversation state itself, so every upstream call is stateless:
`store: false`, the full history in `input`, and, when reasoning is requested,
`include: ["reasoning.encrypted_content"]` so reasoning items can be replayed verbatim.
Token logprobs asked for are `include: ["message.output_text.logprobs"]` + `top_logprobs`.
"""

from __future__ import annotations

from typing import assert_never

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    FunctionTool,
    ImagePart,
    Message,
    OutputFormat,
    OutputFormatKind,
    ReasoningPart,
    Role,
    ServerToolCallPart,
    ServerToolResultPart,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    WebSearchTool,
)
from polyrelay.ir.request import (
    OPENAI_CLIENT_METADATA,
    OPENAI_PROMPT_CACHE_KEY,
    OPENAI_PROMPT_CACHE_OPTIONS,
    OPENAI_PROMPT_CACHE_RETENTION,
    OPENAI_SAFETY_IDENTIFIER,
    OPENAI_USER,
)
from polyrelay.providers.empty_messages import leave_out_empty
from polyrelay.providers.message_names import warn_names_left_out
from polyrelay.providers.openai_models import sampler, verbosity
from polyrelay.providers.openai_responses.reasoning import (
    effort_from_budget,
    keeps_reasoning,
    reasoning_effort,
    reasoning_from_ir,
)
from polyrelay.providers.schema_memo import Declarations
from polyrelay.providers.strict_mode import strict_or_warn
from polyrelay.schemas.openai_responses import (
    ContentPartParam,
    InputItemParam,
    ResponseCreateParams,
    SummaryTextParam,
    TextConfigParam,
    TextFormatParam,
    ToolChoiceParam,
    ToolParam,
    UserLocationParam,
    WebSearchFiltersParam,
)

__all__ = [
    "ITEM_ID_KEY",
    "PROVIDER_TYPE",
    "build_body",
    "effort_from_budget",
    "input_from_ir",
    "reasoning_from_ir",
    "tools_from_ir",
]

PROVIDER_TYPE = "openai-responses"
ITEM_ID_KEY = "openai-responses.item_id"
"""ToolCallPart.extensions key holding the `fc_…` item id (the `call_id` is the part id)."""

ENCRYPTED_REASONING = "reasoning.encrypted_content"
LOGPROBS = "message.output_text.logprobs"
# OpenAI rejects max_output_tokens below 16 ("integer below minimum value").
MIN_OUTPUT_TOKENS = 16
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


def build_body(request: ChatRequest, upstream_model: str, ctx: RequestContext) -> bytes:
    _reject_or_warn(request, ctx)
    history = input_from_ir(request.messages, ctx)
    reasoning = reasoning_from_ir(request.reasoning, upstream_model, ctx)
    effort = reasoning_effort(reasoning)
    tools = tools_from_ir(request, ctx)
    params = ResponseCreateParams(
        model=upstream_model,
        input=history,
        instructions="\n\n".join(p.text for p in request.system) or None,
        max_output_tokens=_max_tokens(request.max_tokens, ctx),
        temperature=sampler("temperature", request.temperature, upstream_model, effort, ctx),
        top_p=sampler("top_p", request.top_p, upstream_model, effort, ctx),
        stream=True if request.stream else None,
        tools=tools or None,
        tool_choice=tool_choice_from_ir(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls,
        max_tool_calls=request.web_search.max_uses if request.web_search else None,
        reasoning=reasoning,
        text=text_from_ir(request.output_format, verbosity(request.verbosity, upstream_model, ctx)),
        store=False,
        include=_include(request, keeps_reasoning(upstream_model, reasoning), ctx),
        top_logprobs=request.logprobs or None,
        metadata=request.metadata or None,
        user=request.user,
        service_tier=request.service_tier,
    )
    if request.extensions:  # most translated requests have none: nothing to look up
        _openai_fields(params, request)
    return encode(params)


def _include(request: ChatRequest, reasoning: bool, ctx: RequestContext) -> list[str] | None:
    """The encrypted reasoning (to replay it), and the text's token logprobs if asked."""
    include = [ENCRYPTED_REASONING] if reasoning else []
    if request.logprobs is not None:
        include.append(LOGPROBS)
        ctx.logprobs_asked = True
    return include or None


def _openai_fields(params: ResponseCreateParams, request: ChatRequest) -> None:
    """What an OpenAI client sent that the IR keeps in `extensions` (ir/request.py):
    Codex's prompt_cache_key and client_metadata keep its prompt-cache affinity."""
    own = request.extensions
    params.prompt_cache_key = own.get(OPENAI_PROMPT_CACHE_KEY)
    params.prompt_cache_retention = own.get(OPENAI_PROMPT_CACHE_RETENTION)
    params.prompt_cache_options = own.get(OPENAI_PROMPT_CACHE_OPTIONS)
    params.client_metadata = own.get(OPENAI_CLIENT_METADATA)
    params.safety_identifier = own.get(OPENAI_SAFETY_IDENTIFIER)
    params.user = own.get(OPENAI_USER, request.user)


def _reject_or_warn(request: ChatRequest, ctx: RequestContext) -> None:
    if request.n != 1:
        raise UnsupportedError("n > 1 is not supported by OpenAI Responses upstreams", param="n")
    dropped = (
        ("top_k", request.top_k is not None),
        ("stop", bool(request.stop)),
        ("presence_penalty", request.presence_penalty is not None),
        ("frequency_penalty", request.frequency_penalty is not None),
        ("seed", request.seed is not None),
    )
    for name, present in dropped:
        if present:
            ctx.warn(f"{name} is not supported by OpenAI Responses upstreams; dropped")


def _max_tokens(value: int | None, ctx: RequestContext) -> int | None:
    if value is not None and value < MIN_OUTPUT_TOKENS:
        ctx.warn(f"max_tokens raised to {MIN_OUTPUT_TOKENS}, the OpenAI Responses minimum")
        return MIN_OUTPUT_TOKENS
    return value


def input_from_ir(messages: tuple[Message, ...], ctx: RequestContext) -> list[InputItemParam]:
    warn_names_left_out(messages, PROVIDER_TYPE, ctx)
    items: list[InputItemParam] = []
    for i, message in enumerate(messages):
        match message.role:
            case Role.SYSTEM | Role.USER:
                content = [c for c in (_media_from_ir(p, ctx) for p in message.parts) if c]
                if not content:
                    leave_out_empty(messages, i, PROVIDER_TYPE, ctx)
                    continue
                role = message.role.value
                items.append(InputItemParam(type="message", role=role, content=content))
            case Role.ASSISTANT:
                _assistant_from_ir(message, items, ctx)
            case Role.TOOL:
                items.extend(_tool_result_from_ir(p) for p in message.parts if _is_result(p))
            case _:
                assert_never(message.role)
    return items


def _is_result(part: object) -> bool:
    return isinstance(part, ToolResultPart)


def _media_from_ir(part: object, ctx: RequestContext) -> ContentPartParam | None:
    match part:
        case TextPart():
            return _text_from_ir(part)
        case ImagePart():
            url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data}"
            return ContentPartParam(type="input_image", image_url=url, detail=part.detail or "auto")
        case DocumentPart():
            return _document_from_ir(part)
        case _:
            ctx.warn(f"{type(part).__name__} in a user message is not supported; dropped")
            return None


def _text_from_ir(part: TextPart) -> ContentPartParam:
    """A text part, without its cache breakpoint: OpenAI takes `prompt_cache_breakpoint`
    only from gpt-5.6 on (its SDK's words), and other Responses servers (vLLM, Ollama) may
    refuse a field they do not know, where every model caches a repeated prefix by itself.
    A Messages client's markers (Claude Code's, on every request) would risk a 400 for
    nothing."""
    return ContentPartParam(type="input_text", text=part.text)


def _document_from_ir(part: DocumentPart) -> ContentPartParam:
    if part.text is not None:
        return ContentPartParam(type="input_text", text=part.text)
    if part.url is not None:
        return ContentPartParam(type="input_file", file_url=part.url)
    media_type = part.media_type or "application/pdf"
    return ContentPartParam(
        type="input_file",
        file_data=f"data:{media_type};base64,{part.data}",
        filename=part.filename or part.title or "document.pdf",
    )


def _assistant_from_ir(message: Message, items: list[InputItemParam], ctx: RequestContext) -> None:
    texts: list[ContentPartParam] = []
    for part in message.parts:
        if isinstance(part, TextPart) and part.refusal:
            texts.append(ContentPartParam(type="refusal", refusal=part.text))
            continue
        if isinstance(part, TextPart):
            texts.append(ContentPartParam(type="output_text", text=part.text, annotations=[]))
            continue
        if texts:
            items.append(InputItemParam(type="message", role="assistant", content=texts))
            texts = []
        item = _assistant_part_from_ir(part, ctx)
        if item is not None:
            items.append(item)
    if texts:
        items.append(InputItemParam(type="message", role="assistant", content=texts))


def _assistant_part_from_ir(part: object, ctx: RequestContext) -> InputItemParam | None:
    match part:
        case ToolCallPart():
            return InputItemParam(
                type="function_call",
                id=part.extensions.get(ITEM_ID_KEY),
                call_id=part.id,
                name=part.name,
                arguments=part.arguments or "{}",
            )
        case ReasoningPart():
            return _reasoning_item_from_ir(part, ctx)
        case ServerToolCallPart() | ServerToolResultPart():
            ctx.warn("server tool activity in the history is not replayed to OpenAI Responses")
            return None
        case _:
            ctx.warn(f"{type(part).__name__} in an assistant message is not supported; dropped")
            return None


def _reasoning_item_from_ir(part: ReasoningPart, ctx: RequestContext) -> InputItemParam | None:
    # Only OpenAI's own encrypted_content validates; the item id is left out because
    # with store=false OpenAI looks ids up server-side and fails (openai-responses.md §6).
    if part.origin != PROVIDER_TYPE or part.signature is None:
        ctx.warn("reasoning from another provider was dropped from the history")
        return None
    summary = [SummaryTextParam(text=part.text)] if part.text else []
    return InputItemParam(type="reasoning", summary=summary, encrypted_content=part.signature)


def _tool_result_from_ir(part: object) -> InputItemParam:
    assert isinstance(part, ToolResultPart)
    prefix = "Error: " if part.is_error else ""
    media = part.content
    if all(isinstance(p, TextPart) for p in media):
        output: str | list[ContentPartParam] = prefix + part.text()
    else:
        output = [c for c in (_result_media(p) for p in media) if c is not None]
        if prefix:
            output.insert(0, ContentPartParam(type="input_text", text=prefix))
    return InputItemParam(type="function_call_output", call_id=part.tool_call_id, output=output)


def _result_media(part: TextPart | ImagePart | DocumentPart) -> ContentPartParam | None:
    if isinstance(part, TextPart):
        return _text_from_ir(part)
    if isinstance(part, ImagePart):
        url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data}"
        return ContentPartParam(type="input_image", image_url=url, detail=part.detail or "auto")
    return _document_from_ir(part)


def tools_from_ir(request: ChatRequest, ctx: RequestContext) -> list[ToolParam]:
    tools: list[ToolParam] = [_DECLARED(tool, ctx) for tool in request.tools]
    if request.web_search is not None:
        tools.append(_web_search_from_ir(request.web_search, ctx))
    return tools


def _declared(tool: FunctionTool, ctx: RequestContext) -> ToolParam:
    return ToolParam(
        type="function",
        name=tool.name,
        description=tool.description,
        parameters=tool.parameters if tool.parameters is not None else _EMPTY_SCHEMA,
        # Sent always: a Responses tool without `strict` is strict.
        strict=bool(tool.strict) and strict_or_warn(tool.name, tool.parameters, ctx),
    )


_DECLARED = Declarations(_declared)
"""A client's tools are the same schemas every turn (codec.CachedMember): encoded once."""


def _web_search_from_ir(tool: WebSearchTool, ctx: RequestContext) -> ToolParam:
    if tool.blocked_domains:
        ctx.warn("web_search blocked_domains is not supported by OpenAI Responses; dropped")
    loc = tool.user_location
    location = (
        UserLocationParam(
            type="approximate",
            city=loc.city,
            region=loc.region,
            country=loc.country,
            timezone=loc.timezone,
        )
        if loc is not None
        else None
    )
    filters = (
        WebSearchFiltersParam(allowed_domains=list(tool.allowed_domains))
        if tool.allowed_domains
        else None
    )
    return ToolParam(type="web_search", filters=filters, user_location=location)


def tool_choice_from_ir(choice: ToolChoice | None) -> str | ToolChoiceParam | None:
    if choice is None:
        return None
    match choice.mode:
        case ToolChoiceMode.AUTO | ToolChoiceMode.NONE | ToolChoiceMode.REQUIRED:
            mode: str = choice.mode.value
            return mode
        case ToolChoiceMode.NAMED:
            return ToolChoiceParam(type="function", name=choice.name)
        case _:
            assert_never(choice.mode)


def text_from_ir(fmt: OutputFormat | None, verbosity: str | None = None) -> TextConfigParam | None:
    if fmt is None and verbosity is None:
        return None
    return TextConfigParam(format=_format_from_ir(fmt), verbosity=verbosity)


def _format_from_ir(fmt: OutputFormat | None) -> TextFormatParam | None:
    if fmt is None:
        return None
    match fmt.kind:
        case OutputFormatKind.TEXT | OutputFormatKind.JSON_OBJECT:
            return TextFormatParam(type=fmt.kind.value)
        case OutputFormatKind.JSON_SCHEMA:
            return TextFormatParam(
                type="json_schema",
                name=fmt.name or "response",
                schema=fmt.schema if fmt.schema is not None else _EMPTY_SCHEMA,
                strict=fmt.strict,
                description=fmt.description,
            )
        case _:
            assert_never(fmt.kind)
