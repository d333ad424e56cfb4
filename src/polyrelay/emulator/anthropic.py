"""Anthropic Messages: `POST /v1/messages` (plain and streamed) and `/count_tokens`."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.responses import Response

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.dialect import Reply, ReplyContext, resolve_tool_name
from polyrelay.emulator.errors import anthropic_error
from polyrelay.emulator.script import (
    Conversation,
    Finish,
    Plan,
    RequestError,
    ToolCall,
    ToolResult,
    read_limit,
    read_stop_sequences,
    signature_hex,
)
from polyrelay.emulator.state import BoundedMemory
from polyrelay.emulator.streaming import Frame
from polyrelay.emulator.wire import (
    as_list,
    as_object,
    as_str,
    collapse,
    count_words,
    json_text,
    new_id,
    parts_text,
)
from polyrelay.sse import encode_event

__all__ = ["AnthropicDialect"]

STOP_REASON = {
    Finish.END: "end_turn",
    Finish.LENGTH: "max_tokens",
    Finish.STOP_SEQUENCE: "stop_sequence",
    Finish.TOOL_USE: "tool_use",
}


class AnthropicDialect:
    def conversation(
        self, body: JSONObject, call_names: BoundedMemory, *, counting: bool = False
    ) -> Conversation:
        messages = _messages(body)
        max_tokens = read_limit(body.get("max_tokens"), "max_tokens")
        if max_tokens is None and not counting:
            raise RequestError(400, "max_tokens: Field required", "max_tokens")
        texts = [parts_text(body.get("system"))]
        local_names: dict[str, str] = {}
        user_text = ""
        for role, blocks in messages:
            texts += [_block_text(block) for block in blocks]
            for block in blocks:
                if block.get("type") == "tool_use":
                    local_names[as_str(block.get("id"))] = as_str(block.get("name"))
            if role == "user" and any(block.get("type") != "tool_result" for block in blocks):
                user_text = parts_text([b for b in blocks if b.get("type") == "text"])
        tools = [as_object(tool) for tool in as_list(body.get("tools"))]
        texts += [as_str(tool.get("description")) for tool in tools]
        return Conversation(
            user_text=user_text,
            tool_results=_trailing_tool_results(messages, local_names, call_names),
            tool_names={as_str(tool.get("name")) for tool in tools},
            input_tokens=sum(map(count_words, texts)),
            max_tokens=max_tokens,
            stop_sequences=read_stop_sequences(body.get("stop_sequences"), "stop_sequences"),
        )

    def reply(self, plan: Plan, body: JSONObject) -> Reply:
        context = ReplyContext(as_str(body.get("model")), new_id("msg_"))
        headers = {"request-id": new_id("req_")}
        if body.get("stream") is True:
            return Reply(frames=_events(plan, context), headers=headers)
        message = _message(plan, context, _content(plan), STOP_REASON[plan.finish])
        return Reply(body=encode(message), headers=headers, media_type="application/json")

    def error(self, status: int, message: str | None = None, param: str | None = None) -> Response:
        return anthropic_error(status, message, param)


def _messages(body: JSONObject) -> list[tuple[str, list[JSONObject]]]:
    """(role, blocks) per message; a string content is one text block."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages: a non-empty array is required", "messages")
    result = []
    for message in map(as_object, messages):
        content = message.get("content")
        blocks = (
            [{"type": "text", "text": content}]
            if isinstance(content, str)
            else [as_object(block) for block in as_list(content)]
        )
        result.append((as_str(message.get("role")), blocks))
    return result


def _block_text(block: JSONObject) -> str:
    kind = block.get("type")
    if kind == "tool_use":
        return json_text(block.get("input", {}))
    if kind == "tool_result":
        return parts_text(block.get("content"))
    if kind == "thinking":
        return as_str(block.get("thinking"))
    return as_str(block.get("text"))


def _trailing_tool_results(
    messages: list[tuple[str, list[JSONObject]]],
    local_names: dict[str, str],
    call_names: BoundedMemory,
) -> list[ToolResult]:
    last = next((item for item in reversed(messages) if item[0] != "system"), None)
    if last is None or last[0] != "user":
        return []
    return [
        ToolResult(
            resolve_tool_name(as_str(block.get("tool_use_id")), local_names, call_names),
            collapse(parts_text(block.get("content"))),
        )
        for block in last[1]
        if block.get("type") == "tool_result"
    ]


def _signature(plan: Plan) -> str:
    return f"emu-sig-{signature_hex(plan.thinking)}"


def _tool_use(call: ToolCall, arguments: JSONObject) -> JSONObject:
    return {"type": "tool_use", "id": f"toolu_{call.token}", "name": call.name, "input": arguments}


def _content(plan: Plan) -> list[JSONObject]:
    content: list[JSONObject] = []
    if plan.thinking:
        content.append(
            {"type": "thinking", "thinking": plan.thinking, "signature": _signature(plan)}
        )
    if plan.text:
        content.append({"type": "text", "text": plan.text})
    content += [_tool_use(call, call.arguments) for call in plan.tool_calls]
    return content


def _usage(plan: Plan) -> JSONObject:
    return {
        "input_tokens": plan.input_tokens,
        "output_tokens": plan.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def _message(
    plan: Plan, context: ReplyContext, content: list[JSONObject], stop_reason: str | None
) -> JSONObject:
    return {
        "id": context.response_id,
        "type": "message",
        "role": "assistant",
        "model": context.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": plan.stop_sequence if stop_reason else None,
        "usage": _usage(plan),
    }


def _event(kind: str, payload: JSONObject) -> bytes:
    return encode_event(encode({"type": kind, **payload}), kind)


def _block_events(index: int, start: JSONObject, deltas: Iterator[JSONObject]) -> Iterator[Frame]:
    yield _event("content_block_start", {"index": index, "content_block": start}), False
    for delta in deltas:
        yield _event("content_block_delta", {"index": index, "delta": delta}), True
    yield _event("content_block_stop", {"index": index}), False


def _events(plan: Plan, context: ReplyContext) -> Iterator[Frame]:
    start = _message(plan, context, [], None)
    start["usage"] = {**start["usage"], "output_tokens": 1}
    yield _event("message_start", {"message": start}), False
    yield _event("ping", {}), False
    index = 0
    if plan.thinking:
        yield from _block_events(
            index, {"type": "thinking", "thinking": "", "signature": ""}, _thinking_deltas(plan)
        )
        index += 1
    if plan.text:
        yield from _block_events(
            index,
            {"type": "text", "text": ""},
            ({"type": "text_delta", "text": word} for word in plan.chunks),
        )
        index += 1
    for call in plan.tool_calls:
        yield from _block_events(index, _tool_use(call, {}), _input_json_deltas(call))
        index += 1
    stop = {"stop_reason": STOP_REASON[plan.finish], "stop_sequence": plan.stop_sequence}
    yield _event("message_delta", {"delta": stop, "usage": _usage(plan)}), False
    yield _event("message_stop", {}), False


def _thinking_deltas(plan: Plan) -> Iterator[JSONObject]:
    for word in plan.thinking_chunks:
        yield {"type": "thinking_delta", "thinking": word}
    yield {"type": "signature_delta", "signature": _signature(plan)}


def _input_json_deltas(call: ToolCall) -> Iterator[JSONObject]:
    arguments = call.arguments_json
    middle = max(len(arguments) // 2, 1)
    for part in ("", arguments[:middle], arguments[middle:]):
        yield {"type": "input_json_delta", "partial_json": part}
