from __future__ import annotations

from pathlib import Path

import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import (
    ChatResponse,
    MessageStart,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.anthropic import AnthropicProvider, AnthropicStreamParser

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "anthropic"
PROVIDER = AnthropicProvider()
ORACLE_SCENARIOS = sorted(
    p.stem for p in FIXTURES.glob("*.sse") if (FIXTURES / f"{p.stem}.json").exists()
)


def _parse(name: str) -> ChatResponse:
    body = (FIXTURES / f"{name}.json").read_bytes()
    return PROVIDER.parse_response(
        UpstreamResponse(status=200, headers={}, body=body),
        None,
        RequestContext(),  # type: ignore[arg-type]
    )


def _stream(name: str, chunk: int = 37) -> list[StreamEvent]:
    data = (FIXTURES / f"{name}.sse").read_bytes()
    parser = AnthropicStreamParser(RequestContext())
    events: list[StreamEvent] = []
    for i in range(0, len(data), chunk):
        events.extend(parser.feed(data[i : i + chunk]))
    events.extend(parser.finish())
    return events


def _fold(events: list[StreamEvent]) -> ChatResponse:
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    return acc.result()


def test_every_oracle_scenario_is_present() -> None:
    assert {"basic", "tools", "parallel-tools", "reasoning", "web-search"} <= set(ORACLE_SCENARIOS)


@pytest.mark.parametrize("name", ORACLE_SCENARIOS)
@pytest.mark.parametrize("chunk", [1, 37, 100_000])
def test_stream_folds_to_the_json_response(name: str, chunk: int) -> None:
    assert _fold(_stream(name, chunk)) == _parse(name)


def test_tool_use_response() -> None:
    response = _parse("tools")
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.parts[1] == ToolCallPart(
        id="toolu_01A", name="get_forecast", arguments='{"city":"Oslo","days":3}'
    )


def test_empty_tool_input_is_an_empty_object() -> None:
    assert _parse("parallel-tools").parts[0] == ToolCallPart(
        id="toolu_01A", name="get_time", arguments="{}"
    )


def test_reasoning_blocks_carry_origin() -> None:
    parts = _parse("reasoning").parts
    assert parts[0] == ReasoningPart(
        text="17*3 is 51.", signature="EqQBCkYIARgCIkB0ZXN0", origin="anthropic"
    )
    assert parts[1] == ReasoningPart(signature="EncRedacted==", origin="anthropic", redacted=True)


def test_usage_includes_cache_tokens() -> None:
    assert _parse("system").usage == Usage(
        input_tokens=132, output_tokens=3, cache_read_tokens=100, cache_write_tokens=20
    )


def test_stop_sequence_and_max_tokens() -> None:
    stop = _parse("stop-sequence")
    assert (stop.stop_reason, stop.stop_sequence) == (StopReason.STOP_SEQUENCE, "three")
    assert _parse("max-tokens").stop_reason is StopReason.MAX_TOKENS


def test_web_search_blocks_and_citations() -> None:
    response = _parse("web-search")
    call, result, text = response.parts
    assert isinstance(call, ServerToolCallPart) and call.arguments == '{"query":"oslo weather"}'
    assert (
        isinstance(result, ServerToolResultPart)
        and result.results[0].encrypted_content == "EncBlobA"
    )
    assert isinstance(text, TextPart) and text.citations[0].encrypted_index == "EncIdx1"
    assert response.usage.web_search_requests == 1


def test_message_start_carries_input_usage() -> None:
    start = _stream("system")[0]
    assert isinstance(start, MessageStart)
    assert start.usage is not None and start.usage.input_tokens == 132


def test_in_band_error_becomes_stream_error() -> None:
    events = _stream("upstream-500-midstream")
    assert events[-1] == StreamError(status=529, kind="overloaded_error", message="Overloaded")


def test_truncated_stream_ends_with_stream_error() -> None:
    last = _stream("truncated")[-1]
    assert isinstance(last, StreamError) and last.status == 502 and last.kind == "api_error"


def test_unknown_events_and_blocks_are_skipped() -> None:
    data = (
        (FIXTURES / "basic.sse")
        .read_bytes()
        .replace(
            b"event: ping\n",
            b'event: future_event\ndata: {"type":"future_event"}\n\nevent: ping\n',
        )
    )
    parser = AnthropicStreamParser(RequestContext())
    events = parser.feed(data) + parser.finish()
    assert _fold(events) == _parse("basic")


FUTURE_BLOCK = b"".join(
    b"event: %b\ndata: %b\n\n" % (name, data)
    for name, data in [
        (b"content_block_start", b'{"type":"content_block_start","index":7,'
         b'"content_block":{"type":"future_block","x":1}}'),
        (b"content_block_delta", b'{"type":"content_block_delta","index":7,'
         b'"delta":{"type":"future_delta","y":2}}'),
        (b"content_block_delta", b'{"type":"content_block_delta","index":7,'
         b'"delta":{"type":"text_delta","text":"hidden"}}'),
        (b"content_block_stop", b'{"type":"content_block_stop","index":7}'),
    ]
)  # fmt: skip


def test_blocks_and_deltas_of_unknown_types_are_skipped_with_a_warning() -> None:
    data = (FIXTURES / "basic.sse").read_bytes()
    data = data.replace(b"event: message_delta\n", FUTURE_BLOCK + b"event: message_delta\n")
    ctx = RequestContext()
    parser = AnthropicStreamParser(ctx)
    events = parser.feed(data) + parser.finish()
    assert _fold(events) == _parse("basic")
    assert "an Anthropic content block of an unknown type was skipped" in ctx.warnings


def test_a_delta_of_an_unknown_type_in_a_known_block_is_skipped_with_a_warning() -> None:
    future = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"future_delta","z":[1]}}\n\n'
    )
    data = (FIXTURES / "basic.sse").read_bytes()
    at = data.index(b"event: content_block_delta")
    ctx = RequestContext()
    parser = AnthropicStreamParser(ctx)
    events = parser.feed(data[:at] + future + data[at:]) + parser.finish()
    assert _fold(events) == _parse("basic")
    assert "an Anthropic content block delta of an unknown type was skipped" in ctx.warnings


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (b"content_block_start", b"null"),
        (b"content_block_start", b'{"type":"content_block_start","index":0,'
         b'"content_block":{"type":"text","text":5}}'),
        (b"content_block_start", b'{"type":"content_block_start","index":"0",'
         b'"content_block":{"type":"future_block"}}'),
        (b"content_block_delta", b'{"type":"content_block_delta","index":0,'
         b'"delta":{"type":"text_delta"}}'),
        (b"message_delta", b'{"type":"message_delta","delta":"x"}'),
        (b"message_start", b'[]'),
    ],
)  # fmt: skip
def test_a_malformed_event_ends_the_stream_with_an_upstream_error(name: bytes, data: bytes) -> None:
    """Not skipped as a block of an unknown type would be, and not a gateway fault."""
    sse = (FIXTURES / "basic.sse").read_bytes()
    event = b"event: %b\n" % name
    at = sse.index(event, sse.index(b"event: message_start") + 1 if name != b"message_start" else 0)
    sse = sse[:at] + event + b"data: " + data + b"\n\n" + sse[at:]
    parser = AnthropicStreamParser(RequestContext())
    events = parser.feed(sse) + parser.finish()
    errors = [e for e in events if isinstance(e, StreamError)]
    assert len(errors) == 1 and errors[0].status == 502 and errors[0].kind == "api_error"
    assert "cannot read" in errors[0].message
    assert events[-1] is errors[0]


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("upstream-400", 400, "invalid_request_error"),
        ("upstream-429", 429, "rate_limit_error"),
        ("upstream-529", 529, "overloaded_error"),
    ],
)
def test_parse_error(name: str, status: int, kind: str) -> None:
    body = (FIXTURES / f"{name}.json").read_bytes()
    error = PROVIDER.parse_error(
        UpstreamResponse(status=status, headers={"retry-after": "1"}, body=body)
    )
    assert (error.status, error.kind) == (status, kind)
    assert error.message
    assert error.retry_after == "1"


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_upstream_credential_is_a_gateway_fault(status: int) -> None:
    body = b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'
    error = PROVIDER.parse_error(UpstreamResponse(status=status, headers={}, body=body))
    assert (error.status, error.kind) == (500, "api_error")
    assert "credential" in error.message


def test_non_json_error_body() -> None:
    error = PROVIDER.parse_error(
        UpstreamResponse(status=502, headers={}, body=b"<html>bad gateway")
    )
    assert (error.status, error.kind) == (502, "api_error")


def test_an_error_without_a_message_says_what_the_upstream_sent() -> None:
    body = b'{"type":"error","error":{"type":"invalid_request_error","message":""}}'
    error = PROVIDER.parse_error(UpstreamResponse(status=400, headers={}, body=body))
    assert (error.status, error.kind) == (400, "invalid_request_error")
    assert error.message == body.decode()


@pytest.mark.parametrize(
    "event",
    [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":5,'
        b'"delta":{"type":"text_delta","text":"lost"}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":5,'
        b'"delta":{"type":"thinking_delta","thinking":"lost"}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":5}\n\n',
    ],
)
def test_an_event_of_a_block_never_started_is_an_upstream_error(event: bytes) -> None:
    """Not dropped unseen: the stream ends with an error saying what was wrong."""
    sse = (FIXTURES / "basic.sse").read_bytes()
    sse = sse.replace(b"event: message_delta\n", event + b"event: message_delta\n")
    parser = AnthropicStreamParser(RequestContext())
    events = parser.feed(sse) + parser.finish()
    last = events[-1]
    assert isinstance(last, StreamError) and last.status == 502
    assert "content block 5 before its start" in last.message
