from __future__ import annotations

from pathlib import Path

from polyrelay.context import RequestContext
from polyrelay.ir import (
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)
from polyrelay.providers.openai_chat import OpenAIChatStreamParser

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "openai"
HEAD = '"id":"c1","object":"chat.completion.chunk","created":1,"model":"m"'


def _frame(choices: str, extra: str = "") -> bytes:
    return f'data: {{{HEAD},"choices":[{choices}]{extra}}}\n\n'.encode()


def _run(data: bytes) -> list[StreamEvent]:
    parser = OpenAIChatStreamParser(RequestContext())
    return parser.feed(data) + parser.finish()


def test_interleaved_parallel_calls_stream_the_first_and_hold_the_rest() -> None:
    events = _run((FIXTURES / "parallel-tools.sse").read_bytes())
    assert events[:4] == [
        MessageStart(id="chatcmpl-A1", model="gpt-4.1"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Checking the forecast now."),
        PartStop(index=0),
    ]
    assert events[4:8] == [
        PartStart(index=1, part=ToolCallPart(id="call_Q1", name="get_forecast")),
        ToolArgsDelta(index=1, json='{"city":"Oslo",'),
        ToolArgsDelta(index=1, json='"days":3}'),
        PartStop(index=1),
    ]
    assert events[8:11] == [
        PartStart(index=2, part=ToolCallPart(id="call_Q2", name="get_tides")),
        ToolArgsDelta(index=2, json='{"port":"Oslo"}'),
        PartStop(index=2),
    ]
    assert isinstance(events[11], UsageDelta) and events[11].usage.input_tokens == 412
    assert events[12] == MessageStop(stop_reason=StopReason.TOOL_USE)


def test_finish_is_held_until_the_usage_chunk() -> None:
    parser = OpenAIChatStreamParser(RequestContext())
    events = parser.feed(_frame('{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}'))
    assert not any(isinstance(e, MessageStop) for e in events)
    usage = ',"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}'
    tail = parser.feed(_frame("", usage))
    assert tail == [
        UsageDelta(usage=Usage(input_tokens=3, output_tokens=1)),
        MessageStop(stop_reason=StopReason.END_TURN),
    ]
    assert parser.feed(b"data: [DONE]\n\n") == []
    assert parser.finish() == []


def test_done_without_usage_still_stops() -> None:
    events = _run(
        _frame('{"index":0,"delta":{"content":"x"},"finish_reason":"length"}') + b"data: [DONE]\n\n"
    )
    assert events[-1] == MessageStop(stop_reason=StopReason.MAX_TOKENS)


def test_in_band_error_becomes_stream_error() -> None:
    events = _run((FIXTURES / "upstream-500-midstream.sse").read_bytes())
    assert events[-1] == StreamError(
        status=500,
        kind="api_error",
        message="The server had an error while processing your request.",
    )
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    assert acc.error is not None


def test_eof_without_finish_is_a_502_not_a_truncation() -> None:
    events = _run(_frame('{"index":0,"delta":{"content":"cut"},"finish_reason":null}'))
    assert events[-1] == StreamError(
        status=502, kind="api_error", message="upstream stream ended before its final chunk"
    )


def test_eof_with_finish_but_no_done_ends_cleanly() -> None:
    events = _run(_frame('{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}'))
    assert events[-1] == MessageStop(stop_reason=StopReason.END_TURN)


def test_empty_stream_is_an_error() -> None:
    assert isinstance(_run(b"")[-1], StreamError)


def test_invalid_chunk_is_an_error() -> None:
    events = _run(b"data: {not json\n\n")
    assert isinstance(events[-1], StreamError) and events[-1].status == 502


def test_tool_call_without_id_gets_one_and_stop_becomes_tool_use() -> None:
    frames = (
        _frame(
            '{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}}'
        )
        + _frame('{"index":0,"delta":{},"finish_reason":"stop"}')
        + b"data: [DONE]\n\n"
    )
    acc = StreamAccumulator()
    for event in _run(frames):
        acc.feed(event)
    result = acc.result()
    assert result.stop_reason is StopReason.TOOL_USE
    (call,) = result.parts
    assert isinstance(call, ToolCallPart)
    assert call.id.startswith("call_") and (call.name, call.arguments) == ("f", "{}")


def test_other_choices_are_ignored_with_a_warning() -> None:
    ctx = RequestContext()
    parser = OpenAIChatStreamParser(ctx)
    parser.feed(_frame('{"index":1,"delta":{"content":"b"}}'))
    assert ctx.warnings == ["only the first choice of a streamed completion is relayed"]


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    choice = b'{"index":0,"delta":{"content":"caf\xff"},"finish_reason":null}'  # 0xFF: never UTF-8
    bad = b"data: {" + HEAD.encode() + b',"choices":[' + choice + b"]}\n\n"
    end = _frame('{"index":0,"delta":{},"finish_reason":"stop"}') + b"data: [DONE]\n\n"
    events = _run(bad + end)
    assert TextDelta(index=0, text="caf\ufffd") in events
    assert not any(isinstance(event, StreamError) for event in events)
