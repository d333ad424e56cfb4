"""GeminiStreamParser: SSE bytes → IR events, and the accumulator oracle."""

from __future__ import annotations

import json
from collections.abc import Callable

import msgspec
import pytest
from google.genai import types as gtypes

from polyrelay.context import RequestContext
from polyrelay.ir import (
    ChatResponse,
    MessageStart,
    MessageStop,
    PartStart,
    ReasoningPart,
    SignatureDelta,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    ToolCallPart,
    UsageDelta,
)
from polyrelay.providers import Route, UpstreamResponse
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.sse import SSEDecoder

PROVIDER = GeminiProvider()
ORACLE_SCENARIOS = ["basic", "tools", "parallel-tools", "reasoning", "max-tokens", "refusal"]
SSE_SCENARIOS = [*ORACLE_SCENARIOS, "upstream-500-midstream", "truncated", "bare-error"]


def run(data: bytes, route: Route, ctx: RequestContext, step: int = 0) -> list[StreamEvent]:
    parser = PROVIDER.stream_parser(route, ctx)
    events: list[StreamEvent] = []
    if step:
        for i in range(0, len(data), step):
            events += parser.feed(data[i : i + step])
    else:
        events += parser.feed(data)
    return events + parser.finish()


def fold(events: list[StreamEvent]) -> ChatResponse:
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    return acc.result()


def normalise_ids(response: ChatResponse) -> ChatResponse:
    """Invented tool-call ids differ between runs; number them instead."""
    parts = []
    for i, part in enumerate(response.parts):
        if isinstance(part, ToolCallPart) and part.id.startswith("call_"):
            part = msgspec.structs.replace(part, id=f"call_{i}")
        parts.append(part)
    return msgspec.structs.replace(response, parts=tuple(parts))


@pytest.mark.parametrize("scenario", SSE_SCENARIOS)
def test_every_chunk_is_valid_for_the_sdk(upstream: Callable[[str], bytes], scenario: str) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(upstream(f"{scenario}.sse")) + decoder.finish()
    assert events
    for event in events:
        body = json.loads(event.data)
        if "error" not in body:
            gtypes.GenerateContentResponse.model_validate(body)


@pytest.mark.parametrize("scenario", ORACLE_SCENARIOS)
@pytest.mark.parametrize("step", [0, 7])
def test_folded_stream_equals_parsed_json(
    upstream: Callable[[str], bytes],
    route: Route,
    ctx: RequestContext,
    scenario: str,
    step: int,
) -> None:
    streamed = fold(run(upstream(f"{scenario}.sse"), route, ctx, step))
    parsed = PROVIDER.parse_response(
        UpstreamResponse(status=200, headers={}, body=upstream(f"{scenario}.json")), route, ctx
    )
    assert normalise_ids(streamed) == normalise_ids(parsed)


def test_text_stream_events(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    events = run(upstream("basic.sse"), route, ctx)
    assert isinstance(events[0], MessageStart)
    assert events[0].id == "r-basic1"
    assert events[0].usage is not None and events[0].usage.input_tokens == 5
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["Hello!", " How can I help", " you today?"]
    assert [type(e).__name__ for e in events[-3:]] == ["PartStop", "UsageDelta", "MessageStop"]
    usage = events[-2]
    assert isinstance(usage, UsageDelta) and usage.usage.output_tokens == 9


def test_thought_then_text_with_trailing_signature(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    events = run(upstream("reasoning.sse"), route, ctx)
    starts = [e.part for e in events if isinstance(e, PartStart)]
    assert [type(p).__name__ for p in starts] == ["ReasoningPart", "TextPart", "ReasoningPart"]
    assert all(p.origin == "gemini" for p in starts if isinstance(p, ReasoningPart))
    sig = [e for e in events if isinstance(e, SignatureDelta)]
    assert sig == [SignatureDelta(index=2, signature="cmVhc29uLXNpZw==")]


def test_function_call_without_id_gets_one_whole_args_delta(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    events = run(upstream("tools.sse"), route, ctx)
    start = next(e for e in events if isinstance(e, PartStart) and isinstance(e.part, ToolCallPart))
    assert isinstance(start.part, ToolCallPart)
    assert start.part.id.startswith("call_")
    assert start.part.arguments == ""
    assert start.part.extensions == {"gemini.thought_signature": "c2lnLWV4YW1wbGU="}
    args = [e for e in events if isinstance(e, ToolArgsDelta)]
    assert args == [ToolArgsDelta(index=1, json='{"city":"Oslo","days":3}')]
    assert events[-1] == MessageStop(stop_reason=StopReason.TOOL_USE)


def test_parallel_calls_are_sequential_parts(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    response = fold(run(upstream("parallel-tools.sse"), route, ctx))
    calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
    assert len(calls) == 2 and calls[0].id != calls[1].id
    assert response.stop_reason is StopReason.TOOL_USE


def test_max_tokens(upstream: Callable[[str], bytes], route: Route, ctx: RequestContext) -> None:
    events = run(upstream("max-tokens.sse"), route, ctx)
    assert events[-1] == MessageStop(stop_reason=StopReason.MAX_TOKENS)


def test_error_midstream(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    events = run(upstream("upstream-500-midstream.sse"), route, ctx)
    assert events[-1] == StreamError(
        status=500, kind="api_error", message="An internal error has occurred."
    )
    assert not any(isinstance(e, MessageStop) for e in events)


def test_eof_without_finish_reason(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    events = run(upstream("truncated.sse"), route, ctx)
    last = events[-1]
    assert isinstance(last, StreamError)
    assert (last.status, last.kind) == (502, "api_error")
    assert "finishReason" in last.message


def test_bare_json_error_after_data(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    events = run(upstream("bare-error.sse"), route, ctx, step=11)
    assert events[-1] == StreamError(
        status=503, kind="overloaded_error", message="The model is overloaded."
    )


def test_unreadable_chunk_is_a_stream_error(route: Route, ctx: RequestContext) -> None:
    events = run(b"data: {not json}\n\ndata: {}\n\n", route, ctx)
    assert len(events) == 1
    assert isinstance(events[0], StreamError) and events[0].status == 502


def test_failure_finish_without_output_is_a_stream_error(route: Route, ctx: RequestContext) -> None:
    chunk = {"candidates": [{"content": {"parts": []}, "finishReason": "OTHER"}]}
    events = run(b"data: " + json.dumps(chunk).encode() + b"\n\n", route, ctx)
    assert isinstance(events[0], MessageStart)
    assert events[0].model == "gemini-2.5-flash"
    last = events[-1]
    assert isinstance(last, StreamError) and "OTHER" in last.message


def test_non_text_parts_are_warned_once_as_parse_response_warns(
    route: Route, ctx: RequestContext
) -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    result = {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}}
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Here"}, image]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [code, result]}}]},
        {"candidates": [{"content": {"parts": [{"text": "."}]}, "finishReason": "STOP"}]},
    ]
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    warnings = RequestContext()
    parser = PROVIDER.stream_parser(route, warnings)
    events = [e for c in data.split(b"\n\n") for e in parser.feed(c + b"\n\n")]
    events += parser.finish()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Here", "."]
    assert list(warnings.warnings) == ["gemini returned a non-text part; it was dropped"]
    whole = {"candidates": [{**chunks[0]["candidates"][0], "finishReason": "STOP"}]}
    answer = UpstreamResponse(status=200, headers={}, body=json.dumps(whole).encode())
    PROVIDER.parse_response(answer, route, ctx)
    assert list(ctx.warnings) == list(warnings.warnings)
