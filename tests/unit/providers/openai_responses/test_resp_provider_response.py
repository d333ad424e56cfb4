"""OpenAI Responses provider: bodies, errors and streams → IR (with the accumulator oracle)."""

from __future__ import annotations

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import (
    ChatResponse,
    Citation,
    PartStart,
    PartStop,
    ReasoningPart,
    ServerToolCallPart,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.openai_responses import OpenAIResponsesProvider

from .conftest import fixture, make_route

PROVIDER = OpenAIResponsesProvider()
SCENARIOS = ["basic", "tools", "parallel-tools", "reasoning", "max-tokens", "web-search"]


def parse(name: str) -> ChatResponse:
    body = fixture(f"{name}.json")
    return PROVIDER.parse_response(
        UpstreamResponse(status=200, headers={}, body=body), make_route(), RequestContext()
    )


def stream(name: str, chunk: int = 7) -> list[StreamEvent]:
    parser = PROVIDER.stream_parser(make_route(), RequestContext())
    data = fixture(name)
    events: list[StreamEvent] = []
    for i in range(0, len(data), chunk):
        events.extend(parser.feed(data[i : i + chunk]))
    events.extend(parser.finish())
    return events


@pytest.mark.parametrize("name", SCENARIOS)
def test_stream_folds_to_the_unary_response(name: str) -> None:
    acc = StreamAccumulator()
    for event in stream(f"{name}.sse"):
        acc.feed(event)
    assert acc.result() == parse(name)


def test_basic() -> None:
    resp = parse("basic")
    assert resp.id == "resp_basic01"
    assert resp.parts == (TextPart(text="Hello! How can I help you today?"),)
    assert resp.stop_reason is StopReason.END_TURN
    assert resp.usage == Usage(input_tokens=12, output_tokens=10)


def test_tools() -> None:
    resp = parse("tools")
    assert resp.parts[1] == ToolCallPart(
        id="call_Q1Example",
        name="get_forecast",
        arguments='{"city":"Oslo","days":3}',
        extensions={"openai-responses.item_id": "fc_tools01"},
    )
    assert resp.stop_reason is StopReason.TOOL_USE
    assert resp.usage.cache_read_tokens == 128


def test_reasoning() -> None:
    resp = parse("reasoning")
    assert resp.parts[0] == ReasoningPart(
        text="**Adding numbers**\n\nThe user wants 2+2.\n\nThat is 4.",
        signature="gAAAAABencryptedOpaqueState==",
        origin="openai-responses",
    )
    assert resp.usage.reasoning_tokens == 128


def test_max_tokens() -> None:
    assert parse("max-tokens").stop_reason is StopReason.MAX_TOKENS


def test_web_search_and_citations() -> None:
    resp = parse("web-search")
    assert resp.parts[0] == ServerToolCallPart(
        id="ws_01", name="web_search", arguments='{"query":"oslo weather"}'
    )
    assert isinstance(resp.parts[1], TextPart)
    assert resp.parts[1].citations == (
        Citation(
            url="https://weather.example/oslo", title="Oslo weather", start_index=0, end_index=20
        ),
    )
    assert resp.usage.web_search_requests == 1


def test_midstream_failure_is_a_stream_error() -> None:
    events = stream("upstream-500-midstream.sse")
    assert events[-1] == StreamError(
        status=500,
        kind="api_error",
        message="The server had an error while processing your request.",
    )


def test_truncated_stream_ends_with_error() -> None:
    events = stream("truncated.sse")
    last = events[-1]
    assert isinstance(last, StreamError) and last.status == 502


def test_error_event() -> None:
    parser = PROVIDER.stream_parser(make_route(), RequestContext())
    events = parser.feed(
        b'event: error\ndata: {"type":"error","sequence_number":0,'
        b'"code":"rate_limit_exceeded","message":"slow down","param":null}\n\n'
    )
    assert events == [StreamError(status=429, kind="rate_limit_error", message="slow down")]
    assert parser.finish() == []


def test_failed_unary_response_raises() -> None:
    body = (
        b'{"id":"resp_x","status":"failed","model":"m","output":[],'
        b'"error":{"code":"server_error","message":"bad"}}'
    )
    with pytest.raises(UpstreamError) as info:
        PROVIDER.parse_response(
            UpstreamResponse(status=200, headers={}, body=body), make_route(), RequestContext()
        )
    assert (info.value.status, info.value.message) == (500, "bad")


def test_error_400() -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(status=400, headers={}, body=fixture("upstream-400.json"))
    )
    assert (err.status, err.kind, err.param, err.code) == (
        400,
        "invalid_request_error",
        "reasoning.effort",
        "invalid_value",
    )


def test_error_429_keeps_retry_after() -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(
            status=429, headers={"retry-after": "3"}, body=fixture("upstream-429.json")
        )
    )
    assert (err.status, err.kind, err.retry_after) == (429, "rate_limit_error", "3")


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credential_is_a_gateway_fault(status: int) -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(status=status, headers={}, body=b'{"error":{"message":"bad key"}}')
    )
    assert (err.status, err.kind) == (500, "api_error")
    assert "credential" in err.message


def test_unparseable_error_body() -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(status=502, headers={}, body=b"<html>bad gateway</html>")
    )
    # A proxy's page, not OpenAI's JSON: told of, not quoted (it may name internal hosts).
    assert err.status == 502 and "bad gateway" not in err.message


@pytest.mark.parametrize("body", [b'{"error":""}', b'{"error":{"message":""}}', b'{"message":""}'])
def test_an_error_without_a_message_says_what_the_upstream_sent(body: bytes) -> None:
    err = PROVIDER.parse_error(UpstreamResponse(status=400, headers={}, body=body))
    assert err.status == 400 and err.message == body.decode()


def _without(data: bytes, *names: bytes) -> bytes:
    frames = [f for f in data.split(b"\n\n") if f.strip()]
    kept = [f for f in frames if not any(f.startswith(b"event: " + n + b"\n") for n in names)]
    return b"".join(f + b"\n\n" for f in kept)


def _parse_stream(data: bytes) -> list[StreamEvent]:
    parser = PROVIDER.stream_parser(make_route(), RequestContext())
    return parser.feed(data) + parser.finish()


@pytest.mark.parametrize("name", ["basic", "reasoning", "tools"])
def test_a_stream_without_content_part_events_keeps_its_text(name: str) -> None:
    """Some Responses servers send no `content_part.added` / `.done`: the text is kept,
    every part started is stopped once."""
    data = _without(fixture(f"{name}.sse"), b"response.content_part.added",
                    b"response.content_part.done")  # fmt: skip
    events = _parse_stream(data)
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    assert acc.result() == parse(name)
    started = [e.index for e in events if isinstance(e, PartStart)]
    stopped = [e.index for e in events if isinstance(e, PartStop)]
    assert started == stopped


def test_call_arguments_before_the_call_are_an_upstream_error() -> None:
    data = _without(fixture("tools.sse"), b"response.output_item.added")
    last = _parse_stream(data)[-1]
    assert isinstance(last, StreamError) and last.status == 502
    assert "arguments before the call" in last.message
