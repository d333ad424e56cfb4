"""Chat Completions messages → IR messages (the `messages` array of a request).

Rules: system/developer messages before the first other message become
`ChatRequest.system`; later ones stay in place as `Role.SYSTEM` messages. Consecutive
`tool` messages are merged into ONE `Role.TOOL` message (the IR keeps one message per
client turn, which is what Anthropic and Gemini need; the Chat provider splits them
again). Assistant `refusal` becomes text; non-standard `reasoning_content` is ignored
(it carries no signature, so no upstream can use it). So are the parts Mistral's
reasoning models answer in an array content, which clients send back: `thinking` (for
the same reason) and `reference` (citations of Mistral's own tools' results); the fast
path to Mistral relays them as sent. The legacy `functions` API's
assistant `function_call` and `function` result messages become a tool call and its
result, paired by position (legacy.py); a `function` message joins the tool messages
around it. A text part's or a message's `cache_control` (LiteLLM's convention for Claude
models) is a cache breakpoint: cache_marks.py.
"""

from __future__ import annotations

from typing import Any, assert_never

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends.openai_chat.cache_marks import cache_ttl_to_ir, mark_last_text
from polyrelay.frontends.openai_chat.legacy import legacy_call_id
from polyrelay.ir import (
    DocumentPart,
    ImagePart,
    MediaPart,
    Message,
    Part,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    may_be_emptied,
)
from polyrelay.schemas.openai_chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartInputAudioParam,
    ChatCompletionContentPartReferenceParam,
    ChatCompletionContentPartRefusalParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionContentPartThinkingParam,
    ChatCompletionDeveloperMessageParam,
    ChatCompletionFunctionMessageParam,
    ChatCompletionMessageCustomToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
    File,
    TextContent,
    UserContentPart,
)

__all__ = ["data_url_to_ir", "messages_to_ir"]

_DEFAULT_DOCUMENT_TYPE = "application/pdf"
_RESULT_MESSAGES = (ChatCompletionToolMessageParam, ChatCompletionFunctionMessageParam)


def messages_to_ir(
    messages: list[ChatCompletionMessageParam], ctx: RequestContext
) -> tuple[tuple[TextPart, ...], tuple[Message, ...]]:
    """Returns (system, messages)."""
    system: list[TextPart] = []
    out: list[Message] = []
    results: list[ToolResultPart] = []  # consecutive tool messages: one TOOL message
    legacy_calls: dict[str, str] = {}  # function name → id of its unanswered legacy call
    for i, msg in enumerate(messages):
        if results and not isinstance(msg, _RESULT_MESSAGES):
            out.append(Message(role=Role.TOOL, parts=tuple(results)))
            results = []
        match msg:  # the most frequent first: each class pattern tried costs
            case ChatCompletionToolMessageParam():
                content = _text_to_ir(msg, i, ctx)
                results.append(ToolResultPart(tool_call_id=msg.tool_call_id, content=content))
            case ChatCompletionAssistantMessageParam():
                out.append(_assistant_to_ir(msg, i, legacy_calls, ctx))
            case ChatCompletionUserMessageParam():
                out.append(_user_to_ir(msg, i, len(out), ctx))
            case ChatCompletionSystemMessageParam() | ChatCompletionDeveloperMessageParam():
                _system_to_ir(msg, i, system, out, ctx)
            case ChatCompletionFunctionMessageParam():
                results.extend(_function_result_to_ir(msg, i, legacy_calls, ctx))
            case _:
                assert_never(msg)
    if results:
        out.append(Message(role=Role.TOOL, parts=tuple(results)))
    if not out:
        error = InvalidRequestError(
            "Invalid 'messages': at least one user, assistant or tool message is required.",
            param="messages",
        )
        if not system:
            raise error
        ctx.refuse_translated(error)  # OpenAI answers a system prompt alone; others refuse
    return tuple(system), tuple(out)


def _system_to_ir(
    msg: ChatCompletionSystemMessageParam | ChatCompletionDeveloperMessageParam,
    index: int,
    system: list[TextPart],
    out: list[Message],
    ctx: RequestContext,
) -> None:
    parts = _text_to_ir(msg, index, ctx)
    if out:
        out.append(Message(role=Role.SYSTEM, parts=parts, name=msg.name))
        return
    system.extend(parts)
    if msg.name is not None:  # the IR's system prompt is text alone
        ctx.warn_translated(f"messages[{index}].name is not carried when translated; ignored")


def _text_to_ir(
    msg: ChatCompletionSystemMessageParam
    | ChatCompletionDeveloperMessageParam
    | ChatCompletionToolMessageParam,
    index: int,
    ctx: RequestContext,
) -> tuple[TextPart, ...]:
    """`messages[index]`'s text. Its path is written out only where it may be named: most
    messages of a long conversation are tool results with a string and no cache marker."""
    content: TextContent = msg.content
    if isinstance(content, str):
        parts = [TextPart(text=content)]
    else:
        param = f"messages[{index}]"
        parts = [_text_part_to_ir(p, f"{param}.content[{j}]", ctx) for j, p in enumerate(content)]
    _mark_message(parts, msg.cache_control, index, ctx)
    return tuple(parts)


def _mark_message(parts: list[Any], value: Any, index: int, ctx: RequestContext) -> None:
    """`messages[index]`'s own cache marker, if it has one, on its last text part."""
    if value is not None:
        mark_last_text(parts, value, f"messages[{index}].cache_control", ctx)


def _text_part_to_ir(
    part: ChatCompletionContentPartTextParam, param: str, ctx: RequestContext
) -> TextPart:
    cache = part.cache_control
    if cache is not None:
        cache = cache_ttl_to_ir(cache, f"{param}.cache_control", ctx)
    return TextPart(text=part.text, cache_control=cache)


def _function_result_to_ir(
    msg: ChatCompletionFunctionMessageParam,
    index: int,
    legacy_calls: dict[str, str],
    ctx: RequestContext,
) -> tuple[ToolResultPart, ...]:
    """A legacy result answers the latest unanswered legacy call of its function. Nothing
    for one that answers none: OpenAI takes it (the fast path relays it as sent), but no
    other upstream has a result without a call."""
    call_id = legacy_calls.pop(msg.name, None)
    if call_id is None:
        param = f"messages[{index}]"
        message = (
            f"Invalid '{param}': a 'function' message must answer an assistant message's"
            f" 'function_call' of '{msg.name}' before it, and none is waiting for its result."
        )
        ctx.refuse_translated(InvalidRequestError(message, param=param))
        return ()
    content = () if msg.content is None else (TextPart(text=msg.content),)
    return (ToolResultPart(tool_call_id=call_id, content=content, name=msg.name),)


def _assistant_to_ir(
    msg: ChatCompletionAssistantMessageParam,
    index: int,
    legacy_calls: dict[str, str],
    ctx: RequestContext,
) -> Message:
    parts: list[Part] = []
    content = msg.content
    if isinstance(content, str):
        parts.append(TextPart(text=content))
    elif content is not None:
        for j, item in enumerate(content):
            if isinstance(item, ChatCompletionContentPartRefusalParam):
                parts.append(TextPart(text=item.refusal, refusal=True))
            elif isinstance(
                item,
                ChatCompletionContentPartThinkingParam | ChatCompletionContentPartReferenceParam,
            ):
                continue
            else:
                parts.append(_text_part_to_ir(item, f"messages[{index}].content[{j}]", ctx))
    if msg.refusal and not parts:
        parts.append(TextPart(text=msg.refusal, refusal=True))
    _mark_message(parts, msg.cache_control, index, ctx)
    legacy = msg.function_call
    if legacy is not None:
        call_id = legacy_calls[legacy.name] = legacy_call_id(index)
        parts.append(ToolCallPart(id=call_id, name=legacy.name, arguments=legacy.arguments))
    for j, call in enumerate(msg.tool_calls or ()):
        if isinstance(call, ChatCompletionMessageCustomToolCallParam):
            _refuse_custom_call(f"messages[{index}].tool_calls[{j}].type", ctx)
            continue
        fn = call.function
        parts.append(ToolCallPart(id=call.id, name=fn.name, arguments=fn.arguments))
    if msg.audio is not None:
        _audio_to_ir(f"messages[{index}].audio", bool(parts), ctx)
    return Message(role=Role.ASSISTANT, parts=_without_empty_text(parts), name=msg.name)


def _audio_to_ir(param: str, said_otherwise: bool, ctx: RequestContext) -> None:
    """An earlier audio answer, by id: only OpenAI has the audio (the transcript was never
    sent back). Beside content it is left out, warned; alone it is the whole turn, and
    leaving it out would change the conversation."""
    if said_otherwise:
        ctx.warn_translated(f"{param} (an audio answer by id) reaches only OpenAI Chat; ignored")
        return
    message = (
        f"Invalid '{param}': an audio answer by id reaches only an OpenAI Chat upstream;"
        " send its transcript as the message's content."
    )
    ctx.refuse_translated(UnsupportedError(message, param=param))


def _refuse_custom_call(param: str, ctx: RequestContext) -> None:
    """A custom tool's call answers a custom tool, which only OpenAI Chat takes."""
    message = (
        f"Invalid '{param}': calls of custom tools reach only an OpenAI Chat upstream;"
        " use function tools."
    )
    ctx.refuse_translated(UnsupportedError(message, param=param))


def _without_empty_text(parts: list[Part]) -> tuple[Part, ...]:
    """`content: ""` beside tool calls is what the openai SDK's stream accumulator (and
    LangChain) send back, since a stream starts with `content: ""`; Anthropic and Gemini
    refuse an empty text block, so it is left out when something else says the turn. A
    turn of nothing but empty text stays as the client sent it."""
    kept = tuple(p for p in parts if not (isinstance(p, TextPart) and not p.text))
    return kept or tuple(parts)


def _user_to_ir(
    msg: ChatCompletionUserMessageParam, index: int, ir_index: int, ctx: RequestContext
) -> Message:
    parts = _user_content_to_ir(msg, index, ctx)
    if index != ir_index and may_be_emptied(parts):  # may hold media, or be emptied
        ctx.name_message(ir_index, f"messages[{index}]")  # errors name it
    return Message(role=Role.USER, parts=parts, name=msg.name)


def _user_content_to_ir(
    msg: ChatCompletionUserMessageParam, index: int, ctx: RequestContext
) -> tuple[MediaPart, ...]:
    content = msg.content
    if isinstance(content, str):
        parts: list[MediaPart] = [TextPart(text=content)]
    else:
        each = (
            _user_part_to_ir(part, f"messages[{index}].content[{j}]", ctx)
            for j, part in enumerate(content)
        )
        parts = [part for part in each if part is not None]
    _mark_message(parts, msg.cache_control, index, ctx)
    return tuple(parts)


def _user_part_to_ir(part: UserContentPart, param: str, ctx: RequestContext) -> MediaPart | None:
    """None for what only OpenAI itself takes (relayed as sent on the fast path)."""
    match part:
        case ChatCompletionContentPartTextParam():
            return _text_part_to_ir(part, param, ctx)
        case ChatCompletionContentPartImageParam():
            return _image_to_ir(part, f"{param}.image_url.url")
        case File():
            return _file_to_ir(part, f"{param}.file", ctx)
        case ChatCompletionContentPartInputAudioParam():
            message = (
                f"Invalid '{param}.type': audio input ('input_audio') reaches only an"
                " OpenAI Chat upstream."
            )
            ctx.refuse_translated(UnsupportedError(message, param=f"{param}.type"))
            return None
        case _:
            assert_never(part)


def data_url_to_ir(url: str) -> tuple[str, str] | None:
    """`data:<media type>;base64,<payload>` → (media type, bare base64), else None."""
    header, sep, payload = url[5:].partition(",")
    if not url.startswith("data:") or not sep or not header.endswith(";base64"):
        return None
    return header[:-7], payload


def _image_to_ir(part: ChatCompletionContentPartImageParam, param: str) -> ImagePart:
    url, detail = part.image_url.url, part.image_url.detail
    if url.startswith(("https://", "http://")):
        return ImagePart(url=url, detail=detail)
    parsed = data_url_to_ir(url)
    if parsed is None:
        raise InvalidRequestError(
            f"Invalid '{param}': expected an https URL or a base64 data URL "
            "('data:image/png;base64,...').",
            param=param,
        )
    return ImagePart(media_type=parsed[0], data=parsed[1], detail=detail)


def _file_to_ir(part: File, param: str, ctx: RequestContext) -> DocumentPart | None:
    file = part.file
    if file.file_id is not None:
        message = (
            f"Invalid '{param}.file_id': file ids reach only an OpenAI Chat upstream (the"
            " file is stored there); send the file inline as 'file_data'."
        )
        ctx.refuse_translated(UnsupportedError(message, param=f"{param}.file_id"))
        return None
    if not file.file_data:
        raise InvalidRequestError(
            f"Missing required parameter: '{param}.file_data'.", param=f"{param}.file_data"
        )
    # The SDK documents plain base64; OpenAI's own examples send a data URL, and OpenAI
    # answers anything else with a 400. Accept both: plain base64 takes the IR path, whose
    # request writes the data URL.
    parsed = data_url_to_ir(file.file_data)
    if parsed is None:
        ctx.passthrough_ok = False
    media_type, data = parsed or (_DEFAULT_DOCUMENT_TYPE, file.file_data)
    return DocumentPart(media_type=media_type, data=data, filename=file.filename)
