"""Gemini signs its answer on the last part, which the IR keeps as a signature-only
ReasoningPart after the text. An Anthropic message never ends with thinking, and Claude
Code / the Agent SDK take its last block for the answer: such a trailing part is dropped
(warned), streamed or not; one that something follows is sent as before."""

from __future__ import annotations

import json

from tests.unit.builders import anthropic_sse_client

from polyrelay.context import RequestContext
from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    MessageStart,
    MessageStop,
    Part,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    SignatureDelta,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    Usage,
    UsageDelta,
)

FRONTEND = AnthropicMessagesFrontend(default_model="claude-opus-4-6")
THOUGHT = ReasoningPart(text="deep", origin="gemini")
SIGNED = ReasoningPart(signature="c2ln", origin="gemini")
CALL = ToolCallPart(id="call_1", name="Bash", arguments='{"command":"ls"}')


def _block(index: int, part: Part, text: str = "", signature: str = "") -> list[StreamEvent]:
    events: list[StreamEvent] = [PartStart(index=index, part=part)]
    if isinstance(part, TextPart):
        events.append(TextDelta(index=index, text=text))
    elif text:
        events.append(ReasoningDelta(index=index, text=text))
    if signature:
        events.append(SignatureDelta(index=index, signature=signature))
    return [*events, PartStop(index=index)]


def _stream(*blocks: list[StreamEvent], stop: StopReason = StopReason.END_TURN) -> list[dict]:
    renderer = FRONTEND.stream_renderer(ChatRequest(model="m", messages=()), RequestContext())
    events = [MessageStart(id="r", model="m"), *(e for block in blocks for e in block)]
    events += [UsageDelta(usage=Usage(output_tokens=3)), MessageStop(stop_reason=stop)]
    body = b"".join(frame for event in events for frame in renderer.feed(event))
    client = anthropic_sse_client(body, "http://gateway.test")
    with client.messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "q"}]
    ) as stream:
        message = stream.get_final_message()
    return [block.model_dump(exclude_none=True) for block in message.content]


def test_a_streamed_answer_ends_with_its_text() -> None:
    blocks = _stream(
        _block(0, THOUGHT, "deep"),
        _block(1, TextPart(text=""), "You said: hi"),
        _block(2, SIGNED, "", "c2ln"),
    )
    assert [block["type"] for block in blocks] == ["thinking", "text"]
    assert blocks[1]["text"] == "You said: hi"


def test_a_streamed_signature_before_a_tool_call_is_still_sent() -> None:
    blocks = _stream(
        _block(0, TextPart(text=""), "looking"),
        _block(1, SIGNED, "", "c2ln"),
        _block(2, CALL),
        stop=StopReason.TOOL_USE,
    )
    assert [block["type"] for block in blocks] == ["text", "thinking", "tool_use"]
    assert blocks[1]["signature"].startswith("gw1.") and blocks[2]["input"] == {"command": "ls"}


def test_reasoning_text_after_text_is_not_held() -> None:
    blocks = _stream(
        _block(0, TextPart(text=""), "a"),
        _block(1, ReasoningPart(text="", origin="gemini"), "more", "c2ln"),
    )
    assert [block["type"] for block in blocks] == ["text", "thinking"]
    assert blocks[1]["thinking"] == "more"


def test_a_whole_answer_ends_with_its_text_and_says_what_was_dropped() -> None:
    ctx = RequestContext()
    parts = (THOUGHT, TextPart(text="You said: hi"), SIGNED)
    response = ChatResponse(id="r", model="m", parts=parts, stop_reason=StopReason.END_TURN)
    body = json.loads(FRONTEND.encode([response], ctx))
    assert [block["type"] for block in body["content"]] == ["thinking", "text"]
    assert any("after its answer's text was dropped" in w for w in ctx.warnings)
