from __future__ import annotations

import json
from collections.abc import Iterable

import openai
import pytest
from tests.unit.builders import openai_sse_client

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.ir import (
    ChatRequest,
    Message,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    Role,
    ServerToolCallPart,
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

FRONTEND = OpenAIChatFrontend()
REQUEST = ChatRequest(
    model="gpt-4.1", messages=(Message(role=Role.USER, parts=(TextPart(text="hi"),)),), stream=True
)


def _tool_turn() -> list[StreamEvent]:
    return [
        MessageStart(id="up", model="upstream"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Checking "),
        TextDelta(index=0, text="the forecast now."),
        PartStop(index=0),
        PartStart(index=1, part=ToolCallPart(id="call_Q1", name="get_forecast")),
        ToolArgsDelta(index=1, json='{"city":"Oslo",'),
        ToolArgsDelta(index=1, json='"days":3}'),
        PartStop(index=1),
        PartStart(index=2, part=ToolCallPart(id="call_Q2", name="get_tides")),
        ToolArgsDelta(index=2, json='{"port":"Oslo"}'),
        PartStop(index=2),
        UsageDelta(usage=Usage(input_tokens=412, output_tokens=58, cache_read_tokens=12)),
        MessageStop(stop_reason=StopReason.TOOL_USE),
    ]


def _ctx(include_usage: bool = True) -> RequestContext:
    ctx = RequestContext(model="my-model")
    ctx.include_usage = include_usage
    return ctx


def _render(choices: Iterable[tuple[int, StreamEvent]], ctx: RequestContext) -> bytes:
    renderer = FRONTEND.stream_renderer(REQUEST, ctx)
    frames: list[bytes] = []
    for choice, event in choices:
        frames.extend(renderer.feed(event, choice))
    frames.extend(renderer.finish())
    return b"".join(frames)


def _client(body: bytes) -> openai.OpenAI:
    return openai_sse_client(body, "http://gw/v1", max_retries=0)


def test_frames_are_data_lines_with_fixed_identity() -> None:
    body = _render(((0, e) for e in _tool_turn()), _ctx())
    frames = body.split(b"\n\n")
    assert frames[-2] == b"data: [DONE]" and frames[-1] == b""
    chunks = [json.loads(f.removeprefix(b"data: ")) for f in frames[:-2]]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], "my-model", "chat.completion.chunk")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[3]["choices"][0]["delta"] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_Q1",
                "type": "function",
                "function": {"name": "get_forecast", "arguments": ""},
            }
        ]
    }
    assert chunks[4]["choices"][0]["delta"] == {
        "tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Oslo",'}}]
    }
    assert chunks[6]["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 470


def test_sdk_stream_and_helper_rebuild_text_two_tool_calls_and_usage() -> None:
    body = _render(((0, e) for e in _tool_turn()), _ctx())
    client = _client(body)
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 412
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.message.content == "Checking the forecast now."
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_Q1", "get_forecast", '{"city":"Oslo","days":3}'),
        ("call_Q2", "get_tides", '{"port":"Oslo"}'),
    ]
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (
        412,
        58,
        470,
    )
    assert (
        final.usage.prompt_tokens_details and final.usage.prompt_tokens_details.cached_tokens == 12
    )
    assert final.model == "my-model" and final.id.startswith("chatcmpl-")


def test_sdk_helper_with_two_interleaved_choices() -> None:
    a = [
        MessageStart(id="u", model="m"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Hi"),
        PartStop(index=0),
        UsageDelta(usage=Usage(input_tokens=5, output_tokens=1)),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]
    b = [
        MessageStart(id="u", model="m"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Hello"),
        TextDelta(index=0, text=" there"),
        PartStop(index=0),
        UsageDelta(usage=Usage(input_tokens=5, output_tokens=2)),
        # The SDK helper raises on `length`, so both choices end normally here.
        MessageStop(stop_reason=StopReason.STOP_SEQUENCE),
    ]
    events = [
        pair
        for i in range(max(len(a), len(b)))
        for pair in ((0, a[i]) if i < len(a) else None, (1, b[i]))
        if pair
    ]
    client = _client(_render(events, _ctx()))
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}], n=2
    ) as stream:
        final = stream.get_final_completion()
    assert [
        (c.index, c.message.content, c.finish_reason, c.message.role) for c in final.choices
    ] == [
        (0, "Hi", "stop", "assistant"),
        (1, "Hello there", "stop", "assistant"),
    ]
    assert final.usage is not None and (
        final.usage.prompt_tokens,
        final.usage.completion_tokens,
    ) == (10, 3)


def test_without_include_usage_no_usage_chunk_and_no_usage_field() -> None:
    body = _render(((0, e) for e in _tool_turn()), _ctx(include_usage=False))
    chunks = [json.loads(f.removeprefix(b"data: ")) for f in body.split(b"\n\n")[:-2]]
    assert all("usage" not in c and c["choices"] for c in chunks)


def test_a_server_tool_call_is_not_rendered_as_a_tool_call() -> None:
    # An Anthropic upstream running its own web search streams the search's input.
    events = [
        MessageStart(id="u", model="m"),
        PartStart(index=0, part=ServerToolCallPart(id="srvtoolu_1", name="web_search")),
        ToolArgsDelta(index=0, json='{"query":"q"}'),
        PartStop(index=0),
        PartStart(index=1, part=TextPart(text="")),
        TextDelta(index=1, text="found"),
        PartStop(index=1),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]
    body = _render(((0, e) for e in events), _ctx(include_usage=False))
    chunks = [json.loads(f.removeprefix(b"data: ")) for f in body.split(b"\n\n")[:-2]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert all("tool_calls" not in d for d in deltas)
    assert {"content": "found"} in deltas and body.endswith(b"data: [DONE]\n\n")


def test_reasoning_deltas_use_reasoning_content() -> None:
    events = [
        MessageStart(id="u", model="m"),
        PartStart(index=0, part=ReasoningPart()),
        ReasoningDelta(index=0, text="think"),
        PartStop(index=0),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]
    body = _render(((0, e) for e in events), _ctx(include_usage=False))
    chunks = [json.loads(f.removeprefix(b"data: ")) for f in body.split(b"\n\n")[:-2]]
    assert chunks[1]["choices"][0]["delta"] == {"reasoning_content": "think"}


def test_fail_sends_error_frame_that_the_sdk_raises() -> None:
    renderer = FRONTEND.stream_renderer(REQUEST, _ctx())
    frames = renderer.feed(MessageStart(id="u", model="m"))
    frames += renderer.feed(StreamError(status=500, kind="api_error", message="upstream broke"))
    assert json.loads(frames[-1].removeprefix(b"data: ")) == {
        "error": {"message": "upstream broke", "type": "server_error", "param": None, "code": None}
    }
    assert renderer.fail(UpstreamError("x", status=503, kind="overloaded_error"))[0].startswith(
        b"data: {"
    )
    client = _client(b"".join(frames))
    with pytest.raises(openai.APIError, match="upstream broke"):
        list(
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
