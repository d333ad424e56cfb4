"""IR ChatResponse → Responses `Response` object; GatewayError → OpenAI error body.

The item builders here are shared with the stream renderer, so a streamed response and
a unary one render the same items. Stop reasons follow translation.md §7 (R column),
usage §8, error types and statuses §11.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, assert_never, cast

import msgspec

from polyrelay import codec
from polyrelay.codec import DecodeError, decode
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import GatewayError
from polyrelay.frontends.openai_errors import encode_openai_error, openai_error
from polyrelay.frontends.openai_logprobs import tokens_from_ir
from polyrelay.frontends.openai_responses.blob import reasoning_state_from_ir
from polyrelay.frontends.openai_responses.options import ResponsesOptions, ToolNames
from polyrelay.ir import (
    ChatResponse,
    Citation,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    StopReason,
    TextPart,
    TokenLogprob,
    ToolCallPart,
    Usage,
)
from polyrelay.providers.schema_memo import SchemaMemo
from polyrelay.schemas.openai_responses import (
    ErrorObject,
    IncompleteDetails,
    InputTokensDetails,
    OutputTokensDetails,
    Reasoning,
    Response,
    ResponseOutputContent,
    ResponseOutputItem,
    ResponseUsage,
    SummaryTextParam,
    TextConfigParam,
    TextFormatParam,
    ToolParam,
    URLCitation,
    WebSearchAction,
)

__all__ = [
    "SOURCES",
    "call_item_from_ir",
    "citation_from_ir",
    "encode_echoing",
    "encode_error",
    "encode_response",
    "output_text",
    "reasoning_item_from_ir",
    "response_id",
    "response_shell",
    "search_status",
    "sources_from_ir",
    "status_from_ir",
    "usage_from_ir",
    "web_search_item_from_ir",
]

_ITEM_ID_KEY = "openai-responses.item_id"
SOURCES = "web_search_call.action.sources"
"""The `include` entry that asks for the URLs a web search found."""


# What OpenAI echoes for a temperature or top_p the request left out: their defaults, also
# every other upstream's (a client reads `response.temperature` as a number).
_DEFAULT_SAMPLING = 1.0


# Neutral error kind → (OpenAI error type, code, client-facing status override).
def response_id(ctx: RequestContext, options: ResponsesOptions | None) -> str:
    """The pipeline's id if it set one, else one derived from the request, so the storage
    layer can name the response before it is rendered.

    Shaped like OpenAI's: the creation time in 8 hex digits, then the request id's random
    hex. Besides looking right, time-ordered ids are appended at the end of the stored
    responses' primary-key index instead of landing at random pages of it: a stored
    response costs the writer about half the CPU, and the cost stays flat as the table
    grows (bench/README.md)."""
    if options is not None and options.response_id is not None:
        return options.response_id
    return f"resp_{ctx.created:08x}{ctx.request_id.removeprefix('req_')}"


def response_shell(
    ctx: RequestContext, options: ResponsesOptions | None, status: str, resp_id: str
) -> Response:
    """A Response with the request's parameters echoed and no output yet."""
    opts = options if options is not None else ResponsesOptions()
    return Response(
        id=resp_id,
        created_at=ctx.created,
        status=status,
        model=ctx.model,
        instructions=opts.instructions,
        parallel_tool_calls=opts.parallel_tool_calls,
        tool_choice=opts.tool_choice,
        tools=opts.tools,
        temperature=_DEFAULT_SAMPLING if opts.temperature is None else opts.temperature,
        top_p=_DEFAULT_SAMPLING if opts.top_p is None else opts.top_p,
        max_output_tokens=opts.max_output_tokens,
        previous_response_id=opts.previous_response_id,
        reasoning=opts.reasoning or Reasoning(),
        text=_text_echo(opts.text),
        truncation=opts.truncation,
        store=opts.store,
        background=opts.background,
        user=opts.user,
        metadata=opts.metadata,
    )


def encode_echoing(response: Response) -> bytes:
    """`response` as JSON, its echoed tools written from their text encoded once per tool
    list (a client's list is the same object every turn, codec.CachedMember): Codex's 9
    tools are 17 KB of every Response, twice in a stream. `response` itself is untouched
    (it may be stored, or made builtins, where a Raw cannot go)."""
    tools = response.tools
    if not tools:
        return codec.encode(response)
    echo = _ECHOES.get(tools, _encoded)
    return codec.encode(msgspec.structs.replace(response, tools=cast(list[ToolParam], echo)))


_ECHOES: SchemaMemo[msgspec.Raw] = SchemaMemo(entries=16)


def _encoded(tools: list[ToolParam]) -> msgspec.Raw:
    return msgspec.Raw(codec.encode(tools))


def _text_echo(text: TextConfigParam | None) -> TextConfigParam:
    """The request's text config, with the plain-text format it defaults to: OpenAI
    always echoes a `format`, so a client reading `response.text.format.type` finds one."""
    if text is None:
        return TextConfigParam(format=TextFormatParam(type="text"))
    if text.format is None:
        return TextConfigParam(format=TextFormatParam(type="text"), verbosity=text.verbosity)
    return text


def encode_response(
    response: ChatResponse, ctx: RequestContext, options: ResponsesOptions | None
) -> Response:
    names = options.tool_names if options is not None else ToolNames()
    status, incomplete = status_from_ir(response.stop_reason)
    out = response_shell(ctx, options, status, response_id(ctx, options))
    sources = options is not None and SOURCES in options.include
    out.output = output_from_ir(response.parts, names, sources=sources)
    if status == "incomplete" and out.output and out.output[-1].type == "message":
        out.output[-1].status = "incomplete"  # the message the stop cut short, as OpenAI's
    out.incomplete_details = incomplete
    out.completed_at = int(time.time()) if status == "completed" else None
    out.usage = usage_from_ir(response.usage)
    return out


def output_from_ir(
    parts: tuple[Part, ...], names: ToolNames, *, sources: bool = False
) -> list[ResponseOutputItem]:
    """The output items; `sources`: web_search_call actions list the result URLs."""
    items: list[ResponseOutputItem] = []
    message: ResponseOutputItem | None = None
    for part in parts:
        if isinstance(part, TextPart):
            if message is None:
                message = _message_item(new_id("msg_"), "completed")
                items.append(message)
            assert message.content is not None
            message.content.append(content_from_ir(part))
            continue
        message = None
        match part:
            case ToolCallPart():
                items.append(call_item_from_ir(part, names, part.arguments, "completed"))
            case ReasoningPart():
                items.append(reasoning_item_from_ir(part, new_id("rs_"), "completed"))
            case ServerToolCallPart():
                result = _search_result(part, parts)
                status = search_status(result)
                items.append(web_search_item_from_ir(part, status, result if sources else None))
            case _:
                pass
    return items


def _search_result(
    call: ServerToolCallPart, parts: tuple[Part, ...]
) -> ServerToolResultPart | None:
    for part in parts:
        if isinstance(part, ServerToolResultPart) and part.tool_call_id == call.id:
            return part
    return None


def sources_from_ir(result: ServerToolResultPart) -> list[dict[str, Any]]:
    return [{"type": "url", "url": r.url} for r in result.results]


def search_status(result: ServerToolResultPart | None) -> str:
    """`failed` when the search's result is an error (e.g. the search backend is down)."""
    return "failed" if result is not None and result.error_code is not None else "completed"


def _message_item(item_id: str, status: str) -> ResponseOutputItem:
    return ResponseOutputItem(
        type="message", id=item_id, status=status, role="assistant", content=[]
    )


def content_from_ir(part: TextPart) -> ResponseOutputContent:
    """A message's content part: `output_text`, or a `refusal`."""
    if part.refusal:
        return refusal_content(part.text)
    return output_text(part.text, part.citations, part.logprobs or ())


def refusal_content(text: str) -> ResponseOutputContent:
    return ResponseOutputContent(type="refusal", refusal=text)


def output_text(
    text: str, citations: tuple[Citation, ...] = (), tokens: Sequence[TokenLogprob] = ()
) -> ResponseOutputContent:
    """`logprobs` is `[]` without tokens (not asked for, or an upstream without them), as
    OpenAI writes it."""
    annotations = [citation_from_ir(c, text) for c in citations]
    return ResponseOutputContent(
        type="output_text", text=text, annotations=annotations, logprobs=tokens_from_ir(tokens)
    )


def citation_from_ir(citation: Citation, text: str) -> URLCitation:
    # A citation without offsets (Anthropic cites whole blocks) spans the part's text.
    start = citation.start_index if citation.start_index is not None else 0
    end = citation.end_index if citation.end_index is not None else len(text)
    return URLCitation(
        url=citation.url, title=citation.title or "", start_index=start, end_index=end
    )


def call_item_from_ir(
    part: ToolCallPart, names: ToolNames, arguments: str, status: str
) -> ResponseOutputItem:
    """A function_call item, or custom_tool_call for a custom tool; ids are reused when the
    call came from an OpenAI Responses upstream."""
    item_id = part.extensions.get(_ITEM_ID_KEY)
    if part.name in names.custom:
        return ResponseOutputItem(
            type="custom_tool_call",
            id=item_id or new_id("ctc_"),
            status=status,
            call_id=part.id,
            name=part.name,
            input=custom_input(arguments),
        )
    namespace, name = names.namespaced.get(part.name, (None, part.name))
    return ResponseOutputItem(
        type="function_call",
        id=item_id or new_id("fc_"),
        status=status,
        call_id=part.id,
        name=name,
        namespace=namespace,
        arguments=arguments,
    )


def custom_input(arguments: str) -> str:
    """The free-form input of a custom tool call declared as a function taking {input}."""
    try:
        value = decode(arguments)
    except DecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        text: str = value["input"]
        return text
    return arguments


def reasoning_item_from_ir(part: ReasoningPart, item_id: str, status: str) -> ResponseOutputItem:
    summary = [SummaryTextParam(text=part.text)] if part.text else []
    return ResponseOutputItem(
        type="reasoning",
        id=item_id,
        status=status,
        summary=summary,
        encrypted_content=reasoning_state_from_ir(part),
    )


def web_search_item_from_ir(
    part: ServerToolCallPart, status: str, result: ServerToolResultPart | None = None
) -> ResponseOutputItem:
    """The web_search_call item; with `result`, its action lists the result URLs
    (`include: ["web_search_call.action.sources"]`)."""
    try:
        args = decode(part.arguments) if part.arguments else {}
    except DecodeError:
        args = {}
    query = args.get("query") if isinstance(args, dict) else None
    item_id = part.id if part.id.startswith("ws_") else new_id("ws_")
    action = WebSearchAction(type="search", query=query if isinstance(query, str) else None)
    if result is not None:
        action.sources = sources_from_ir(result)
    return ResponseOutputItem(type="web_search_call", id=item_id, status=status, action=action)


def status_from_ir(stop: StopReason) -> tuple[str, IncompleteDetails | None]:
    match stop:
        case StopReason.END_TURN | StopReason.STOP_SEQUENCE | StopReason.TOOL_USE:
            return "completed", None
        case StopReason.PAUSE_TURN:
            return "completed", None
        case StopReason.MAX_TOKENS | StopReason.CONTEXT_WINDOW:
            return "incomplete", IncompleteDetails(reason="max_output_tokens")
        case StopReason.REFUSAL:
            return "incomplete", IncompleteDetails(reason="content_filter")
        case _:
            assert_never(stop)


def usage_from_ir(usage: Usage) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=usage.input_tokens,
        input_tokens_details=InputTokensDetails(
            cached_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens
        ),
        output_tokens=usage.output_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=usage.reasoning_tokens),
        total_tokens=usage.total_tokens,
    )


def error_object_from_ir(error: GatewayError) -> tuple[int, ErrorObject]:
    """The shared OpenAI error mapping, as the Responses schema's error object."""
    status, shared = openai_error(error)
    code = None if shared.code is None else str(shared.code)
    return status, ErrorObject(
        message=shared.message, type=shared.type, param=shared.param, code=code
    )


def encode_error(error: GatewayError) -> tuple[int, bytes]:
    return encode_openai_error(error)
