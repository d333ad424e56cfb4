"""OpenAI Responses frontend: IR → Response object and SSE, checked with openai-python."""

from __future__ import annotations

import json

import msgspec
import openai
import pytest
from openai.types.responses import Response
from tests.unit.builders import openai_sse_client

from polyrelay.context import RequestContext
from polyrelay.errors import OverloadedError, RateLimitError, UpstreamError
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend, ResponsesOptions
from polyrelay.frontends.openai_responses.encode import response_id
from polyrelay.frontends.openai_responses.options import ToolNames
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Citation,
    Message,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    Role,
    ServerToolCallPart,
    SignatureDelta,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)

FRONTEND = OpenAIResponsesFrontend()
USAGE = Usage(input_tokens=100, output_tokens=40, cache_read_tokens=30, reasoning_tokens=12)
NAMES = ToolNames(namespaced={"ns__spawn": ("ns", "spawn")}, custom={"apply_patch"})
REQUEST = ChatRequest(
    model="smart", messages=(Message(role=Role.USER, parts=(TextPart(text="hi"),)),)
)


def ctx() -> RequestContext:
    return RequestContext(model="smart")


def response(stop: StopReason = StopReason.TOOL_USE) -> ChatResponse:
    return ChatResponse(
        id="up_1",
        model="gpt-5",
        parts=(
            ReasoningPart(text="thinking", signature="sig", origin="anthropic"),
            TextPart(text="Hello", citations=(Citation(url="https://a.example", title="A"),)),
            TextPart(text=" world"),
            ToolCallPart(id="call_1", name="ns__spawn", arguments='{"a":1}'),
            ToolCallPart(id="call_2", name="apply_patch", arguments='{"input":"*** Begin Patch"}'),
            ServerToolCallPart(id="srv_1", name="web_search", arguments='{"query":"q"}'),
        ),
        stop_reason=stop,
        usage=USAGE,
    )


def test_encode_validates_with_the_sdk() -> None:
    options = ResponsesOptions(tool_names=NAMES, response_id="resp_fixed", store=False)
    body = FRONTEND.encode([response()], ctx(), options)
    resp = Response.model_validate(json.loads(body))
    assert resp.id == "resp_fixed" and resp.model == "smart" and resp.status == "completed"
    assert resp.output_text == "Hello world"
    kinds = [item.type for item in resp.output]
    assert kinds == ["reasoning", "message", "function_call", "custom_tool_call", "web_search_call"]
    reasoning, message, call, custom = resp.output[:4]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content is not None
    assert reasoning.encrypted_content.startswith("gw1.")
    assert message.type == "message" and len(message.content) == 2
    first = message.content[0]
    assert first.type == "output_text" and first.annotations[0].type == "url_citation"
    assert call.type == "function_call" and (call.name, call.namespace, call.call_id) == (
        "spawn",
        "ns",
        "call_1",
    )
    assert custom.type == "custom_tool_call" and custom.input == "*** Begin Patch"
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.total_tokens) == (100, 140)
    assert resp.usage.input_tokens_details.cached_tokens == 30
    assert resp.usage.output_tokens_details.reasoning_tokens == 12
    assert resp.store is False


def test_encode_incomplete_and_default_id() -> None:
    c = ctx()
    resp = Response.model_validate(
        json.loads(FRONTEND.encode([response(StopReason.MAX_TOKENS)], c))
    )
    assert resp.status == "incomplete"
    assert (
        resp.incomplete_details is not None
        and resp.incomplete_details.reason == "max_output_tokens"
    )
    assert resp.id == f"resp_{c.created:08x}" + c.request_id.removeprefix("req_")
    refusal = Response.model_validate(
        json.loads(FRONTEND.encode([response(StopReason.REFUSAL)], c))
    )
    assert (
        refusal.incomplete_details is not None
        and refusal.incomplete_details.reason == "content_filter"
    )


def test_encode_error_bodies() -> None:
    status, body = FRONTEND.encode_error(RateLimitError("slow down", retry_after="2"))
    assert status == 429
    assert json.loads(body) == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    status, body = FRONTEND.encode_error(OverloadedError("busy"))
    assert status == 503 and json.loads(body)["error"]["code"] == "overloaded"
    status, _ = FRONTEND.encode_error(UpstreamError("x", status=500))
    assert status == 500


def events(stop: StopReason = StopReason.TOOL_USE) -> list[StreamEvent]:
    return [
        MessageStart(id="up", model="gpt-5"),
        PartStart(index=0, part=ReasoningPart(origin="openai-responses")),
        ReasoningDelta(index=0, text="think"),
        ReasoningDelta(index=0, text="ing"),
        SignatureDelta(index=0, signature="enc-state"),
        PartStop(index=0),
        PartStart(index=1, part=TextPart(text="")),
        TextDelta(index=1, text="Hel"),
        TextDelta(index=1, text="lo"),
        PartStop(index=1),
        PartStart(index=2, part=ToolCallPart(id="call_1", name="ns__spawn")),
        ToolArgsDelta(index=2, json='{"a":'),
        ToolArgsDelta(index=2, json="1}"),
        PartStop(index=2),
        PartStart(index=3, part=ToolCallPart(id="call_2", name="apply_patch")),
        ToolArgsDelta(index=3, json='{"input":"patch"}'),
        PartStop(index=3),
        PartStart(index=4, part=ServerToolCallPart(id="s", name="web_search")),
        ToolArgsDelta(index=4, json='{"query":"q"}'),
        PartStop(index=4),
        UsageDelta(usage=USAGE),
        MessageStop(stop_reason=stop),
    ]


def render(
    evts: list[StreamEvent], options: ResponsesOptions | None = None
) -> tuple[bytes, object]:
    renderer = FRONTEND.stream_renderer(REQUEST, ctx(), options)
    frames: list[bytes] = []
    for event in evts:
        frames.extend(renderer.feed(event))
    frames.extend(renderer.finish())
    return b"".join(frames), renderer


def sdk_client(sse: bytes) -> openai.OpenAI:
    return openai_sse_client(sse, "http://gw.test/v1")


def test_stream_parses_with_the_sdk_helper() -> None:
    sse, renderer = render(events(), ResponsesOptions(tool_names=NAMES))
    with sdk_client(sse).responses.stream(model="smart", input="hi") as stream:
        seen = [event.type for event in stream]
        final = stream.get_final_response()
    assert (
        seen[:2] == ["response.created", "response.in_progress"]
        and seen[-1] == "response.completed"
    )
    assert final.output_text == "Hello"
    assert [i.type for i in final.output] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
        "web_search_call",
    ]
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "enc-state"
    assert reasoning.summary[0].text == "thinking"
    call = final.output[2]
    assert call.type == "function_call" and (call.name, call.namespace, call.arguments) == (
        "spawn",
        "ns",
        '{"a":1}',
    )
    assert final.usage is not None and final.usage.total_tokens == 140
    assert renderer.final_response.status == "completed"


def test_stream_sequence_numbers_and_event_lines() -> None:
    sse, _ = render(events())
    frames = [f for f in sse.split(b"\n\n") if f]
    numbers = []
    for frame in frames:
        event_line, data_line = frame.split(b"\n")
        data = json.loads(data_line.removeprefix(b"data: "))
        assert event_line == b"event: " + data["type"].encode()
        numbers.append(data["sequence_number"])
    assert numbers == list(range(len(frames)))


def test_stream_incomplete_with_create_stream() -> None:
    sse, _ = render(events(StopReason.MAX_TOKENS))
    stream = sdk_client(sse).responses.create(model="smart", input="hi", stream=True)
    last = list(stream)[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"


def test_stream_without_message_stop_fails() -> None:
    sse, _ = render(events()[:8])
    stream = sdk_client(sse).responses.create(model="smart", input="hi", stream=True)
    last = list(stream)[-1]
    assert last.type == "response.failed"
    assert last.response.error is not None and last.response.error.code == "server_error"


def test_fail_renders_response_failed() -> None:
    renderer = FRONTEND.stream_renderer(REQUEST, ctx())
    frames = renderer.feed(MessageStart(id="x", model="m")) + renderer.fail(RateLimitError("slow"))
    data = json.loads(frames[-1].split(b"\ndata: ")[1])
    assert data["type"] == "response.failed"
    assert data["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow"}
    assert renderer.finish() == []


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (3, [("reasoning", "think")]),
        (8, [("reasoning", "thinking"), ("message", "Hel")]),
        (12, [("reasoning", "thinking"), ("message", "Hello"), ("function_call", '{"a":')]),
    ],
)
def test_a_failure_keeps_the_output_streamed_so_far(
    cut: int, expected: list[tuple[str, str]]
) -> None:
    started = MessageStart(id="x", model="m", usage=Usage(input_tokens=7))
    renderer = FRONTEND.stream_renderer(REQUEST, ctx(), ResponsesOptions(tool_names=NAMES))
    frames = [f for event in [started, *events()[1:cut]] for f in renderer.feed(event)]
    frames += renderer.fail(UpstreamError("cut", status=502))
    stream = sdk_client(b"".join(frames)).responses.create(model="smart", input="hi", stream=True)
    failed = list(stream)[-1]
    assert failed.type == "response.failed"
    seen = []
    for item in failed.response.output:
        match item.type:
            case "reasoning":
                seen.append((item.type, item.summary[0].text))
            case "message":
                text = "".join(p.text for p in item.content if p.type == "output_text")
                seen.append((item.type, text))
            case "function_call":
                seen.append((item.type, item.arguments))
    assert seen == expected
    assert failed.response.usage is not None and failed.response.usage.input_tokens == 7


def test_response_frames_are_the_event_struct_encoding_and_keep_the_response_json() -> None:
    from polyrelay.codec import encode
    from polyrelay.frontends.openai_responses.stream import OpenAIResponsesStreamRenderer
    from polyrelay.ir import (
        MessageStart,
        MessageStop,
        PartStart,
        PartStop,
        StopReason,
        TextDelta,
        TextPart,
    )
    from polyrelay.schemas.openai_responses import ResponseStreamEvent
    from polyrelay.sse import encode_event

    renderer = OpenAIResponsesStreamRenderer(RequestContext(model="m"), ResponsesOptions())
    events = [
        MessageStart(id="up", model="up"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="hi"),
        PartStop(index=0),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]
    frames = [frame for event in events for frame in renderer.feed(event)]
    *closing, last = renderer.finish()
    final = renderer.final_response
    assert final is not None and renderer.final_json == encode(final)
    expected = ResponseStreamEvent(
        type="response.completed", sequence_number=len(frames) + len(closing), response=final
    )
    assert last == encode_event(encode(expected), event="response.completed")
    # the opening events carry the in-progress shell, encoded once for both
    shell = msgspec.structs.replace(final, status="in_progress", output=[], usage=None)
    shell.completed_at = None
    for seq, kind in enumerate(["response.created", "response.in_progress"]):
        opening = ResponseStreamEvent(type=kind, sequence_number=seq, response=shell)
        assert frames[seq] == encode_event(encode(opening), event=kind)


def test_response_ids_start_with_their_creation_time_like_openais() -> None:
    """OpenAI's `resp_67ccd2be…` carries `created_at` 1741476542 in its first 8 hex
    digits; ids made later sort later, which keeps the store's index appending."""
    earlier, later = ctx(), ctx()
    earlier.created, later.created = 1741476542, 1741476543
    first, second = response_id(earlier, None), response_id(later, None)
    assert first.startswith("resp_67ccd2be") and len(first) == len("resp_") + 8 + 24
    assert first < second


@pytest.mark.parametrize("count", [3, 2100])
def test_text_delta_frames_are_the_event_struct_encoding(count: int) -> None:
    """The hot delta frame is joined from pieces; it must be the bytes the event Struct
    encodes to, past the cached sequence numbers too, one by one and in runs."""
    from polyrelay.codec import encode
    from polyrelay.frontends.openai_responses.stream import OpenAIResponsesStreamRenderer
    from polyrelay.ir import MessageStart, PartStart, TextDelta, TextPart
    from polyrelay.schemas.openai_responses import ResponseStreamEvent
    from polyrelay.sse import encode_event

    texts = [f'tok "{n}"\n' for n in range(count)]
    for in_runs in (False, True):
        renderer = OpenAIResponsesStreamRenderer(RequestContext(model="m"), ResponsesOptions())
        opening = renderer.feed(MessageStart(id="up", model="up"))
        opening += renderer.feed(PartStart(index=0, part=TextPart(text="")))
        deltas = [TextDelta(index=0, text=text) for text in texts]
        if in_runs:
            frames = renderer.feed_texts(deltas[:1000]) + renderer.feed_texts(deltas[1000:])
        else:
            frames = [frame for delta in deltas for frame in renderer.feed(delta)]
        added = json.loads(opening[-1].split(b"\ndata: ")[1])
        expected = [
            encode_event(
                encode(
                    ResponseStreamEvent(
                        type="response.output_text.delta",
                        sequence_number=len(opening) + n,
                        output_index=added["output_index"],
                        item_id=added["item_id"],
                        content_index=0,
                        delta=text,
                        logprobs=[],
                    )
                ),
                event="response.output_text.delta",
            )
            for n, text in enumerate(texts)
        ]
        assert frames == expected
