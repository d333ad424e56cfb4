"""IR messages → Chat Completions `messages`.

- `ChatRequest.system` becomes one leading `system` message (text joined with blank
  lines); a mid-conversation `Role.SYSTEM` message stays a `system` message in place.
- A `Role.TOOL` message becomes one `tool` message per result. Chat tool messages carry
  text only, so `is_error` becomes an `Error: ` prefix, and images or inline documents in
  results move to one `user` message after the tool messages (translation.md §5, lossy).
- Reasoning parts are dropped: Chat Completions takes no reasoning input, and their
  signatures belong to other providers (translation.md §6).
- A tool-call id past 40 characters (OpenAI's limit: 'string too long') goes out as a
  digest of itself, the same in the call and in its result, so they still pair up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from polyrelay.providers.empty_messages import leave_out_empty
from polyrelay.schemas.openai_chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionMessageCustomToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCall,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
    File,
    FileFile,
    FunctionCall,
    ImageURL,
    UserContentPart,
)

__all__ = ["messages_from_ir"]

_DEFAULT_FILENAME = "document.pdf"
MAX_CALL_ID = 40


def _wire_call_id(call_id: str) -> str:
    """The id OpenAI takes for `call_id` (see the module doc): ids come back only in the
    history, so the same digest on both sides is all a pairing needs."""
    if len(call_id) <= MAX_CALL_ID:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


def messages_from_ir(request: ChatRequest, ctx: RequestContext) -> list[ChatCompletionMessageParam]:
    out: list[ChatCompletionMessageParam] = []
    if request.system:
        text = "\n\n".join(p.text for p in request.system)
        out.append(ChatCompletionSystemMessageParam(content=text))
    for i, msg in enumerate(request.messages):
        match msg.role:
            case Role.SYSTEM:
                out.append(ChatCompletionSystemMessageParam(content=msg.text(), name=msg.name))
            case Role.USER:
                content = _user_content_from_ir(msg.parts, ctx)
                if content == []:  # OpenAI refuses it: "empty array"
                    leave_out_empty(request.messages, i, "openai", ctx)
                    continue
                out.append(ChatCompletionUserMessageParam(content=content, name=msg.name))
            case Role.ASSISTANT:
                out.append(_assistant_from_ir(msg, ctx))
            case Role.TOOL:
                out.extend(_tool_messages_from_ir(msg, ctx))
    return out


def _user_content_from_ir(
    parts: Iterable[Part], ctx: RequestContext
) -> str | list[UserContentPart]:
    items: list[UserContentPart] = []
    for part in parts:
        item = _user_part_from_ir(part, ctx)
        if item is not None:
            items.append(item)
    if len(items) == 1 and isinstance(items[0], ChatCompletionContentPartTextParam):
        return items[0].text
    return items


def _user_part_from_ir(part: Part, ctx: RequestContext) -> UserContentPart | None:
    if isinstance(part, TextPart):
        return ChatCompletionContentPartTextParam(text=part.text)
    if isinstance(part, ImagePart | DocumentPart):
        return _media_from_ir(part)
    ctx.warn(f"a {type(part).__name__} in a user message is not supported and was dropped")
    return None


def _media_from_ir(part: ImagePart | DocumentPart) -> UserContentPart:
    if isinstance(part, ImagePart):
        url = part.url or f"data:{part.media_type};base64,{part.data}"
        return ChatCompletionContentPartImageParam(image_url=ImageURL(url=url, detail=part.detail))
    if part.text is not None:
        return ChatCompletionContentPartTextParam(text=part.text)
    if part.data is not None:
        media_type = part.media_type or "application/pdf"
        file = FileFile(
            file_data=f"data:{media_type};base64,{part.data}",
            filename=part.filename or part.title or _DEFAULT_FILENAME,
        )
        return File(file=file)
    raise UnsupportedError(
        "Documents given by URL are not supported by this upstream; send them inline."
    )


def _assistant_from_ir(msg: Message, ctx: RequestContext) -> ChatCompletionAssistantMessageParam:
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[ChatCompletionMessageToolCall | ChatCompletionMessageCustomToolCallParam] = []
    for part in msg.parts:
        if isinstance(part, TextPart):
            (refusals if part.refusal else texts).append(part.text)
        elif isinstance(part, ToolCallPart):
            fn = FunctionCall(name=part.name, arguments=part.arguments)
            call_id = _wire_call_id(part.id)
            calls.append(ChatCompletionMessageToolCall(id=call_id, function=fn))
        else:
            ctx.warn(f"{part.__struct_config__.tag} parts in assistant history were dropped")
    content = "".join(texts) if texts or not (calls or refusals) else None
    return ChatCompletionAssistantMessageParam(
        content=content,
        tool_calls=calls or None,
        refusal="".join(refusals) if refusals else None,
        name=msg.name,
    )


def _tool_messages_from_ir(msg: Message, ctx: RequestContext) -> list[ChatCompletionMessageParam]:
    out: list[ChatCompletionMessageParam] = []
    moved: list[UserContentPart] = []
    for part in msg.parts:
        if not isinstance(part, ToolResultPart):
            ctx.warn(f"a {type(part).__name__} in a tool message was dropped")
            continue
        texts: list[str] = []
        for item in part.content:
            if isinstance(item, TextPart):
                texts.append(item.text)
            elif isinstance(item, DocumentPart) and item.text is not None:
                texts.append(item.text)
            else:
                moved.append(_media_from_ir(item))
        text = "\n".join(texts)  # one per line, as the other one-string upstreams get them
        if part.is_error:
            text = "Error: " + text
        call_id = _wire_call_id(part.tool_call_id)
        out.append(ChatCompletionToolMessageParam(content=text, tool_call_id=call_id))
    if moved:
        ctx.warn("images in tool results were moved to a following user message")
        out.append(ChatCompletionUserMessageParam(content=moved))
    return out
