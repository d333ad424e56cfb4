"""Tool-call ids carry Gemini's thought signatures through clients that have no field."""

from __future__ import annotations

import re
from typing import Any

from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    PartStart,
    Role,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from polyrelay.ir.tool_ids import (
    outgoing_event,
    outgoing_response,
    plain_wire_ids,
    restore_request,
    split_id,
)

SIGNED = ToolCallPart(
    id="call_1", name="f", arguments="{}", extensions={"gemini.thought_signature": "c2ln+/="}
)


def test_signature_travels_in_the_id_and_comes_back() -> None:
    response = outgoing_response(
        ChatResponse(id="r", model="m", parts=(SIGNED,), stop_reason=StopReason.TOOL_USE)
    )
    (wire,) = response.parts
    assert isinstance(wire, ToolCallPart) and wire.extensions == {}
    assert re.fullmatch(r"[A-Za-z0-9_-]+", wire.id)
    history = ChatRequest(
        model="m",
        messages=(
            Message(role=Role.ASSISTANT, parts=(wire,)),
            Message(role=Role.TOOL, parts=(ToolResultPart(tool_call_id=wire.id),)),
        ),
    )
    restored = restore_request(history)
    assert restored.messages[0].parts == (SIGNED,)
    assert restored.messages[1].parts == (ToolResultPart(tool_call_id="call_1"),)


def test_stream_event_gets_the_same_id() -> None:
    event = outgoing_event(PartStart(index=0, part=SIGNED))
    assert isinstance(event, PartStart) and isinstance(event.part, ToolCallPart)
    assert split_id(event.part.id) == ("call_1", SIGNED.extensions)


def test_plain_ids_and_requests_are_untouched() -> None:
    plain = ChatRequest(
        model="m", messages=(Message(role=Role.USER, parts=(TextPart(text="hi"),)),)
    )
    assert restore_request(plain) is plain
    assert split_id("toolu_01__x") == ("toolu_01__x", {})
    assert split_id("call_1__gw1_!!!") == ("call_1__gw1_!!!", {})


def test_plain_wire_ids_splits_every_tool_call_id_of_a_raw_body_and_nothing_else() -> None:
    wire = "call_1__gw1_eyJnIjoicyJ9"
    body: Any = {
        "messages": [
            {"role": "assistant", "tool_calls": [{"id": wire, "function": {"name": "f"}}]},
            {"role": "tool", "tool_call_id": wire, "content": f"the id was {wire}"},
            {"content": [{"type": "tool_result", "tool_use_id": wire}]},
        ],
        "input": [{"type": "function_call_output", "call_id": wire, "output": "x"}],
        "metadata": {"note": wire},
        "tools": [{"name": "f", "input_schema": {"properties": {"id": {"default": wire}}}}],
    }
    body["messages"][2]["content"].append({"type": "tool_use", "id": wire, "input": {"id": wire}})
    plain_wire_ids(body)
    assert body["messages"][0]["tool_calls"][0]["id"] == "call_1"
    assert body["messages"][1]["tool_call_id"] == "call_1"
    assert body["messages"][1]["content"] == f"the id was {wire}"  # text is the client's
    assert body["messages"][2]["content"][0]["tool_use_id"] == "call_1"
    assert body["input"][0]["call_id"] == "call_1"
    assert body["metadata"]["note"] == wire
    assert body["messages"][2]["content"][1] == {
        "type": "tool_use",
        "id": "call_1",
        "input": {"id": wire},
    }  # the input is the client's
    assert body["tools"][0]["input_schema"]["properties"]["id"]["default"] == wire
