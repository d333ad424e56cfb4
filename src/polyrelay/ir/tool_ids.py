"""Tool-call ids that carry their round-trip extensions through any client.

Some upstream state belongs to a tool call and must come back with it (Gemini's
`thoughtSignature` on a functionCall: Gemini 3 answers 400 without it). No client protocol
has a field for it, but every client echoes the tool-call id verbatim, in the assistant
history and in the tool result. So the gateway appends the extensions to the id it gives the
client — `<id>__gw1_<base64url JSON>`, within the `[a-zA-Z0-9_-]` alphabet every protocol
accepts — and splits them off again when the id comes back. Ids without extensions are
untouched, so other upstreams' ids pass through verbatim.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from polyrelay.ir.content import Part, ToolCallPart, ToolResultPart
from polyrelay.ir.events import PartStart, StreamEvent
from polyrelay.ir.messages import Message
from polyrelay.ir.request import ChatRequest
from polyrelay.ir.response import ChatResponse

__all__ = [
    "ID_MARK",
    "id_with_extensions",
    "outgoing_event",
    "outgoing_response",
    "plain_wire_ids",
    "restore_request",
    "split_id",
]

ID_MARK = "__gw1_"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(dict[str, str])


def id_with_extensions(call_id: str, extensions: dict[str, str]) -> str:
    if not extensions or ID_MARK in call_id:
        return call_id
    raw = base64.urlsafe_b64encode(_encoder.encode(extensions)).rstrip(b"=").decode("ascii")
    return f"{call_id}{ID_MARK}{raw}"


def split_id(wire_id: str) -> tuple[str, dict[str, str]]:
    """The inverse of `id_with_extensions`; an id this gateway did not extend is kept whole."""
    call_id, mark, payload = wire_id.partition(ID_MARK)
    if not mark:
        return wire_id, {}
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return call_id, _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.ValidationError, msgspec.DecodeError):
        return wire_id, {}


def _outgoing_part(part: Part) -> Part:
    if isinstance(part, ToolCallPart) and part.extensions:
        wire_id = id_with_extensions(part.id, part.extensions)
        return msgspec.structs.replace(part, id=wire_id, extensions={})
    return part


def outgoing_response(response: ChatResponse) -> ChatResponse:
    """The response with extensions folded into tool-call ids, ready for any frontend."""
    if not any(isinstance(p, ToolCallPart) and p.extensions for p in response.parts):
        return response
    return msgspec.structs.replace(response, parts=tuple(map(_outgoing_part, response.parts)))


def outgoing_event(event: StreamEvent) -> StreamEvent:
    if isinstance(event, PartStart) and isinstance(event.part, ToolCallPart):
        if event.part.extensions:
            return PartStart(index=event.index, part=_outgoing_part(event.part))
    return event


def _incoming_part(part: Part) -> Part:
    if isinstance(part, ToolCallPart) and ID_MARK in part.id:
        call_id, extensions = split_id(part.id)
        return msgspec.structs.replace(
            part, id=call_id, extensions={**extensions, **part.extensions}
        )
    if isinstance(part, ToolResultPart) and ID_MARK in part.tool_call_id:
        return msgspec.structs.replace(part, tool_call_id=split_id(part.tool_call_id)[0])
    return part


def _incoming_message(message: Message) -> Message:
    return msgspec.structs.replace(message, parts=tuple(map(_incoming_part, message.parts)))


def restore_request(request: ChatRequest) -> ChatRequest:
    """The request with gateway-extended ids split back into ids and extensions."""
    # One plain loop over every part (no generator, exact types: the parts are final
    # Structs): a 150-message conversation is 300 parts, on every translated request.
    for message in request.messages:
        if _carries_mark(message):
            break
    else:
        return request
    messages = tuple(_incoming_message(m) if _carries_mark(m) else m for m in request.messages)
    return msgspec.structs.replace(request, messages=messages)


def _carries_mark(message: Message) -> bool:
    for part in message.parts:
        if type(part) is ToolCallPart:
            if ID_MARK in part.id:
                return True
        elif type(part) is ToolResultPart and ID_MARK in part.tool_call_id:
            return True
    return False


def plain_wire_ids(body: object) -> None:
    """Split the extensions off every tool-call id in a client's raw body (in place), for
    the same-protocol fast path: a conversation that went through another upstream
    carries ids this gateway extended for it (an OpenAI upstream refuses an id past 40
    characters, and the other upstream's state is no business of this one). Only where
    each protocol puts tool-call ids (tool inputs and arguments are the client's): Chat's
    `tool_calls[].id` and `tool_call_id`, Responses' items' `call_id`, Anthropic's
    `tool_use` and `tool_result` blocks."""
    if not isinstance(body, dict):
        return
    for key in ("messages", "input"):
        items = body.get(key)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                _plain_item(item)


def _plain_item(item: dict[str, object]) -> None:
    _plain(item, "call_id")  # Responses
    _plain(item, "tool_call_id")  # Chat
    calls = item.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        _plain(call, "id")
    content = item.get("content")
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict) and block.get("type") in ("tool_use", "tool_result"):
            _plain(block, "id")
            _plain(block, "tool_use_id")


def _plain(holder: object, key: str) -> None:
    if not isinstance(holder, dict):
        return
    value = holder.get(key)
    if isinstance(value, str) and ID_MARK in value:
        holder[key] = split_id(value)[0]
