from __future__ import annotations

import json

import anthropic
import pytest
from anthropic.types import Message as SDKMessage
from tests.unit.builders import anthropic_sse_client

from polyrelay.context import RequestContext
from polyrelay.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    RequestTooLargeError,
    UpstreamError,
    UpstreamTimeoutError,
)
from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Citation,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    SignatureDelta,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)

FRONTEND = AnthropicMessagesFrontend(default_model="claude-opus-4-6")
USAGE = Usage(input_tokens=150, output_tokens=40, cache_read_tokens=100, cache_write_tokens=20)


def _ctx() -> RequestContext:
    ctx = RequestContext(model="claude-public")
    return ctx


def _response(origin: str = "anthropic") -> ChatResponse:
    return ChatResponse(
        id="up-1",
        model="upstream-model",
        parts=(
            ReasoningPart(
                text="think", signature="sig" if origin == "anthropic" else "g", origin=origin
            ),
            TextPart(
                text="Hi",
                citations=(
                    Citation(url="https://a.test", title="A", cited_text="c", encrypted_index="e"),
                ),
            ),
            ToolCallPart(id="toolu_1", name="get", arguments='{"city": "Oslo"}'),
        ),
        stop_reason=StopReason.TOOL_USE,
        usage=USAGE,
    )


def test_encode_validates_with_the_sdk() -> None:
    ctx = _ctx()
    message = SDKMessage.model_validate(json.loads(FRONTEND.encode([_response()], ctx)))
    assert message.id.startswith("msg_") and message.model == "claude-public"
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].signature == "sig"  # type: ignore[union-attr]
    assert message.content[2].input == {"city": "Oslo"}  # type: ignore[union-attr]
    usage = message.usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (30, 100, 20)
    assert usage.output_tokens == 40


def test_foreign_reasoning_gets_a_gateway_token_that_decodes_back() -> None:
    ctx = _ctx()
    body = json.loads(FRONTEND.encode([_response("gemini")], ctx))
    token = body["content"][0]["signature"]
    assert token.startswith("gw1.")
    replay = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [body["content"][0]]},
        ]
    }
    part = FRONTEND.decode(json.dumps(replay).encode(), RequestContext()).messages[1].parts[0]
    assert part == ReasoningPart(text="think", signature="g", origin="gemini")


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (InvalidRequestError("bad"), 400, "invalid_request_error"),
        (AuthenticationError("no"), 401, "authentication_error"),
        (NotFoundError("nope"), 404, "not_found_error"),
        (RequestTooLargeError("big"), 413, "request_too_large"),
        (RateLimitError("slow"), 429, "rate_limit_error"),
        (UpstreamError("boom", status=500), 500, "api_error"),
        (UpstreamError("boom", status=502), 502, "api_error"),
        (UpstreamTimeoutError("late"), 504, "timeout_error"),
        (OverloadedError("busy"), 529, "overloaded_error"),
        (UpstreamError("busy", status=503, kind="overloaded_error"), 529, "overloaded_error"),
    ],
)
def test_encode_error(error: GatewayError, status: int, error_type: str) -> None:
    got_status, body = FRONTEND.encode_error(error)
    assert got_status == status
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": error_type, "message": error.message},
    }


def _events(origin: str) -> list[StreamEvent]:
    return [
        MessageStart(
            id="up",
            model="m",
            usage=Usage(input_tokens=150, cache_read_tokens=100, cache_write_tokens=20),
        ),
        PartStart(index=0, part=ReasoningPart(origin=origin)),
        ReasoningDelta(index=0, text="thi"),
        ReasoningDelta(index=0, text="nk"),
        SignatureDelta(index=0, signature="sig"),
        PartStop(index=0),
        PartStart(index=1, part=TextPart(text="")),
        TextDelta(index=1, text="Hel"),
        TextDelta(index=1, text='lo "x"'),
        PartStop(index=1),
        PartStart(index=2, part=ToolCallPart(id="toolu_1", name="get")),
        ToolArgsDelta(index=2, json='{"city":'),
        ToolArgsDelta(index=2, json=' "Oslo"}'),
        PartStop(index=2),
        UsageDelta(usage=USAGE),
        MessageStop(stop_reason=StopReason.TOOL_USE),
    ]


def _render(events: list[StreamEvent], ctx: RequestContext) -> bytes:
    renderer = FRONTEND.stream_renderer(ChatRequest(model="m", messages=()), ctx)
    frames: list[bytes] = []
    for event in events:
        frames.extend(renderer.feed(event))
    frames.extend(renderer.finish())
    return b"".join(frames)


def _sdk_stream(body: bytes) -> anthropic.types.Message:
    client = anthropic_sse_client(body, "http://gateway.test")
    with client.messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "q"}]
    ) as stream:
        return stream.get_final_message()


def test_stream_renders_what_the_sdk_accumulates() -> None:
    ctx = _ctx()
    body = _render(_events("anthropic"), ctx)
    final = _sdk_stream(body)
    expected = SDKMessage.model_validate(json.loads(FRONTEND.encode([_response()], ctx)))
    assert final.model_dump(exclude={"content"}) == expected.model_dump(exclude={"content"})
    assert final.content[0].model_dump() == {
        "type": "thinking",
        "thinking": "think",
        "signature": "sig",
    }
    assert final.content[1].text == 'Hello "x"'  # type: ignore[union-attr]
    assert final.content[2].input == {"city": "Oslo"}  # type: ignore[union-attr]


def test_stream_framing_event_names_match_types_and_indexes_have_no_gaps() -> None:
    body = _render(_events("gemini"), _ctx())
    frames = [f for f in body.decode().split("\n\n") if f]
    names = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        name = event_line.removeprefix("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        names.append(name)
        if name == "content_block_delta" and data["delta"]["type"] == "signature_delta":
            assert data["delta"]["signature"].startswith("gw1.")
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [
        json.loads(f.split("\n")[1][6:])["index"]
        for f in frames
        if f.startswith("event: content_block_start")
    ]
    assert starts == [0, 1, 2]


def test_stream_error_becomes_an_error_event() -> None:
    ctx = _ctx()
    body = _render(
        [
            MessageStart(id="u", model="m"),
            StreamError(status=529, kind="overloaded_error", message="Overloaded"),
        ],
        ctx,
    )
    assert body.endswith(
        b'event: error\ndata: {"type":"error","error":'
        b'{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    with pytest.raises(anthropic.APIStatusError):
        _sdk_stream(body)
