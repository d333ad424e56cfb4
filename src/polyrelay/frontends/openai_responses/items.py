"""Responses `input` items → IR messages.

Rules: leading `system`/`developer` messages join `instructions` in ChatRequest.system;
later ones become SYSTEM messages in place. Consecutive assistant-side items (assistant
messages, `reasoning`, `function_call`, `custom_tool_call`, `web_search_call`) form one
ASSISTANT message; consecutive `*_output` items form one TOOL message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polyrelay.codec import encode_str
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends.openai_responses.blob import reasoning_state_to_ir
from polyrelay.frontends.openai_responses.options import NAMESPACE_SEPARATOR
from polyrelay.ir import (
    CacheTTL,
    DocumentPart,
    ImagePart,
    MediaPart,
    Message,
    Part,
    Role,
    ServerToolCallPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    may_be_emptied,
)
from polyrelay.schemas.openai_responses import ContentPartParam, InputItemParam

__all__ = ["content_to_ir", "data_url_to_ir", "input_to_ir"]

ITEM_ID_KEY = "openai-responses.item_id"
_OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output"})
_TEXT_TYPES = frozenset({"input_text", "output_text", "text"})


class _History:
    """Accumulates messages, merging consecutive assistant or tool parts into one message."""

    def __init__(self) -> None:
        self.system: list[TextPart] = []
        self.messages: list[Message] = []
        self._role: Role | None = None
        self._parts: list[Part] = []

    @property
    def at_start(self) -> bool:
        """No conversation item yet: system/developer text still joins the instructions."""
        return not self.messages and self._role is None

    def add(self, role: Role, part: Part) -> None:
        if role is not self._role:
            self.flush()
            self._role = role
        self._parts.append(part)

    @property
    def last_part(self) -> int:
        """The index of the part `add` put last, in the message `flush` will append."""
        return len(self._parts) - 1

    def message(self, role: Role, parts: tuple[Part, ...]) -> None:
        self.flush()
        self.messages.append(Message(role=role, parts=parts))

    def flush(self) -> None:
        if self._role is not None and self._parts:
            self.messages.append(Message(role=self._role, parts=tuple(self._parts)))
        self._role, self._parts = None, []


def input_to_ir(
    items: str | list[InputItemParam] | None,
    ctx: RequestContext,
    params: Sequence[str] | None = None,
) -> tuple[list[TextPart], list[Message]]:
    """`params` names each item in errors (default `input[i]`); items inherited from stored
    responses are named `previous_response_id`."""
    if isinstance(items, str):
        if not items or items.isspace():  # an upstream may leave nothing of it: errors name it
            ctx.name_message(0, "input")
        return [], [Message(role=Role.USER, parts=(TextPart(text=items),))]
    history = _History()
    for index, item in enumerate(items or ()):
        _item_to_ir(item, params[index] if params else f"input[{index}]", history, ctx)
    history.flush()
    return history.system, history.messages


def _item_to_ir(item: InputItemParam, param: str, history: _History, ctx: RequestContext) -> None:
    match item.type or "message":
        case "message":
            _message_to_ir(item, param, history, ctx)
        case "function_call" | "custom_tool_call" | "reasoning" | "web_search_call":
            history.add(Role.ASSISTANT, _assistant_item_to_ir(item, param))
        case kind if kind in _OUTPUT_TYPES:
            history.add(Role.TOOL, _tool_output_to_ir(item, param, ctx))
            if isinstance(item.output, list):  # may hold media: errors name the item
                ctx.name_message(len(history.messages), f"{param}.output", history.last_part)
        case "item_reference":
            raise UnsupportedError("item_reference needs stored responses", param=param)
        case kind:
            ctx.warn_translated(f"input item type {kind!r} is not supported; dropped")


def _message_to_ir(
    item: InputItemParam, param: str, history: _History, ctx: RequestContext
) -> None:
    parts = content_to_ir(item.content, param, "content", ctx)
    match item.role:
        case "system" | "developer":
            if history.at_start:
                history.system.extend(p for p in parts if isinstance(p, TextPart))
            else:
                history.message(Role.SYSTEM, parts)
        case "user":
            history.message(Role.USER, parts)
            if may_be_emptied(parts):  # may hold media, or be emptied: errors name the item
                ctx.name_message(len(history.messages) - 1, param)
        case "assistant":
            for part in parts:
                history.add(Role.ASSISTANT, part)
        case role:
            raise InvalidRequestError(f"invalid role {role!r}", param=f"{param}.role")


def _require(value: str | None, param: str, field: str) -> str:
    """`value` of `{param}.{field}`, a path written out only for the error: a long
    conversation's items are hundreds of these on every request."""
    if value is None:
        path = f"{param}.{field}"
        raise InvalidRequestError(f"{path} is required", param=path)
    return value


def _assistant_item_to_ir(item: InputItemParam, param: str) -> Part:
    if item.type == "reasoning":
        text = "\n\n".join(s.text for s in item.summary or ())
        return reasoning_state_to_ir(item.encrypted_content, text)
    if item.type == "web_search_call":
        query = (item.action or {}).get("query")
        args = encode_str({"query": query} if query is not None else {})
        return ServerToolCallPart(id=item.id or "", name="web_search", arguments=args)
    call_id = _require(item.call_id, param, "call_id")
    name = _require(item.name, param, "name")
    if item.namespace:
        name = f"{item.namespace}{NAMESPACE_SEPARATOR}{name}"
    if item.type == "custom_tool_call":
        arguments = encode_str({"input": item.input or ""})
    else:
        arguments = _require(item.arguments, param, "arguments")
    extensions = {ITEM_ID_KEY: item.id} if item.id else {}
    return ToolCallPart(id=call_id, name=name, arguments=arguments, extensions=extensions)


def _tool_output_to_ir(item: InputItemParam, param: str, ctx: RequestContext) -> ToolResultPart:
    call_id = _require(item.call_id, param, "call_id")
    content = content_to_ir(item.output, param, "output", ctx)  # None: "….output is required"
    return ToolResultPart(tool_call_id=call_id, content=content)


def content_to_ir(
    content: str | list[ContentPartParam] | None, item: str, field: str, ctx: RequestContext
) -> tuple[MediaPart, ...]:
    """The `field` (`content`, `output`) of the input item named `item` in errors."""
    if content is None:
        path = f"{item}.{field}"
        raise InvalidRequestError(f"{path} is required", param=path)
    if isinstance(content, str):
        return (TextPart(text=content),)
    param = f"{item}.{field}"
    return tuple(_part_to_ir(p, param, i, ctx) for i, p in enumerate(content))


def _breakpoint_to_ir(breakpoint: dict[str, Any] | None) -> CacheTTL | None:
    """OpenAI's ttls (`30m`, `12h`) in Anthropic's: the longer one is its 1h."""
    if breakpoint is None:
        return None
    return "1h" if breakpoint.get("ttl") == "12h" else "5m"


def _part_to_ir(part: ContentPartParam, content: str, i: int, ctx: RequestContext) -> MediaPart:
    """Part `i` of `content` (a path), named `{content}[{i}]` in errors."""
    kind = part.type
    if kind in _TEXT_TYPES:  # nearly every part: its path is written out only for an error
        # An explicit cache breakpoint is Anthropic's cache marker (and a translated
        # request's to a Responses upstream); Chat and Gemini upstreams cache by
        # themselves (a hint, left out there as cache_control is).
        cache = _breakpoint_to_ir(part.prompt_cache_breakpoint)
        text = part.text if part.text is not None else _require(None, f"{content}[{i}]", "text")
        return TextPart(text=text, cache_control=cache)
    param = f"{content}[{i}]"
    match kind:
        case "refusal":
            return TextPart(text=_require(part.refusal, param, "refusal"), refusal=True)
        case "input_image":
            return _image_to_ir(part, param)
        case "input_file":
            if part.detail not in (None, "auto"):  # the IR's document has no room for it
                ctx.warn_translated(f"{param}: input_file detail is not carried; ignored")
            return _file_to_ir(part, param)
        case kind:
            raise InvalidRequestError(f"unsupported content part type {kind!r}", param=param)


def _image_to_ir(part: ContentPartParam, param: str) -> ImagePart:
    if part.file_id is not None:
        raise UnsupportedError("file_id inputs are not supported; send image_url", param=param)
    url = _require(part.image_url, param, "image_url")
    inline = data_url_to_ir(url)
    if inline is None:
        return ImagePart(url=url, detail=part.detail)
    media_type, data = inline
    return ImagePart(media_type=media_type, data=data, detail=part.detail)


def _file_to_ir(part: ContentPartParam, param: str) -> DocumentPart:
    if part.file_id is not None:
        raise UnsupportedError("file_id inputs are not supported; send file_data", param=param)
    if part.file_url is not None:
        return DocumentPart(url=part.file_url, filename=part.filename)
    inline = data_url_to_ir(_require(part.file_data, param, "file_data"))
    if inline is None:
        raise InvalidRequestError("file_data must be a base64 data URL", param=f"{param}.file_data")
    media_type, data = inline
    return DocumentPart(media_type=media_type, data=data, filename=part.filename)


def data_url_to_ir(url: str) -> tuple[str, str] | None:
    """`data:<media type>;base64,<payload>` → (media type, bare base64); else None."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")], payload
