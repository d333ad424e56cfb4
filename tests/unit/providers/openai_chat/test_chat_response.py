from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import (
    ReasoningPart,
    StopReason,
    StreamAccumulator,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.openai_chat import OpenAIChatProvider

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "openai"
PROVIDER = OpenAIChatProvider()
ROUTE = route(
    "openai",
    provider="openai",
    public="gpt",
    upstream="gpt-4.1",
    base_url="https://api.openai.com/v1",
)


def _response(name: str, status: int = 200, headers: dict[str, str] | None = None):
    body = (FIXTURES / name).read_bytes()
    return UpstreamResponse(status=status, headers=headers or {}, body=body)


def _parse(name: str):
    return PROVIDER.parse_response(_response(name), ROUTE, RequestContext())


def test_basic_text_and_usage_include_cache_tokens() -> None:
    result = _parse("basic.json")
    assert result.id == "chatcmpl-A1"
    assert result.model == "gpt-4.1"
    assert result.parts == (TextPart(text="Hello! How can I help?"),)
    assert result.stop_reason is StopReason.END_TURN
    assert result.usage == Usage(input_tokens=12, output_tokens=7, cache_read_tokens=4)


def test_parallel_tool_calls_keep_order_and_raw_arguments() -> None:
    result = _parse("parallel-tools.json")
    assert result.stop_reason is StopReason.TOOL_USE
    assert result.parts == (
        TextPart(text="Checking the forecast now."),
        ToolCallPart(id="call_Q1", name="get_forecast", arguments='{"city":"Oslo","days":3}'),
        ToolCallPart(id="call_Q2", name="get_tides", arguments='{"port":"Oslo"}'),
    )


def test_reasoning_content_becomes_unsigned_reasoning_part() -> None:
    result = _parse("reasoning.json")
    assert result.parts == (ReasoningPart(text="2+2 is 4."), TextPart(text="4"))
    assert result.usage.reasoning_tokens == 15


def test_length_maps_to_max_tokens() -> None:
    assert _parse("max-tokens.json").stop_reason is StopReason.MAX_TOKENS


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("stop", False, StopReason.END_TURN),
        ("length", False, StopReason.MAX_TOKENS),
        ("tool_calls", True, StopReason.TOOL_USE),
        ("function_call", True, StopReason.TOOL_USE),
        ("content_filter", False, StopReason.REFUSAL),
        ("stop", True, StopReason.TOOL_USE),
        (None, False, StopReason.END_TURN),
    ],
)
def test_finish_reason_mapping(reason: str | None, calls: bool, expected: StopReason) -> None:
    from polyrelay.providers.openai_chat.response import stop_reason_to_ir

    assert stop_reason_to_ir(reason, calls) is expected


def test_n_choices_are_all_parsed() -> None:
    body = (
        b'{"id":"c","model":"m","choices":['
        b'{"index":1,"message":{"content":"b"},"finish_reason":"stop"},'
        b'{"index":0,"message":{"content":"a"},"finish_reason":"length"}]}'
    )
    choices = PROVIDER.parse_choices(UpstreamResponse(status=200, headers={}, body=body))
    assert [c.parts for c in choices] == [(TextPart(text="a"),), (TextPart(text="b"),)]
    assert choices[1].stop_reason is StopReason.END_TURN


def test_invalid_body_is_a_502() -> None:
    with pytest.raises(UpstreamError) as info:
        PROVIDER.parse_response(
            UpstreamResponse(status=200, headers={}, body=b"{"), ROUTE, RequestContext()
        )
    assert info.value.status == 502


def test_upstream_400_keeps_status_param_and_code() -> None:
    err = PROVIDER.parse_error(_response("upstream-400.json", status=400))
    assert (err.status, err.kind, err.param, err.code) == (
        400,
        "invalid_request_error",
        "messages[0].role",
        "invalid_value",
    )
    assert "bogus" in err.message


def test_upstream_429_keeps_retry_after() -> None:
    err = PROVIDER.parse_error(_response("upstream-429.json", 429, {"retry-after": "7"}))
    assert (err.status, err.kind, err.code, err.retry_after) == (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        "7",
    )


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_gateway_credential_is_a_500(status: int) -> None:
    body = (
        b'{"error":{"message":"Incorrect API key provided: sk-proj-****abcd",'
        b'"type":"invalid_request_error"}}'
    )
    err = PROVIDER.parse_error(UpstreamResponse(status=status, headers={}, body=body))
    assert (err.status, err.kind) == (500, "api_error")
    assert "credential" in err.message
    # The upstream's text can quote part of the operator's key: it never reaches clients.
    assert "abcd" not in err.message and "Incorrect API key" not in err.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"object":"error","message":"vllm says no","type":"BadRequestError","code":400}',
            "vllm says no",
        ),
        (b'{"error":"plain string"}', "plain string"),
        (b'{"detail":"fastapi says no"}', "fastapi says no"),
        (b"", "the upstream answered HTTP 503 with an empty body"),
    ],
)
def test_error_bodies_of_compatible_servers(body: bytes, message: str) -> None:
    err = PROVIDER.parse_error(UpstreamResponse(status=503, headers={}, body=body))
    assert err.message == message
    assert (err.status, err.kind) == (503, "overloaded_error")


@pytest.mark.parametrize("scenario", ["basic", "parallel-tools", "reasoning", "max-tokens"])
def test_stream_folds_to_the_parsed_response(scenario: str) -> None:
    ctx = RequestContext()
    parser = PROVIDER.stream_parser(ROUTE, ctx)
    acc = StreamAccumulator()
    data = (FIXTURES / f"{scenario}.sse").read_bytes()
    for i in range(0, len(data), 37):  # odd chunk size: frames split mid-line
        for event in parser.feed(data[i : i + 37]):
            acc.feed(event)
    for event in parser.finish():
        acc.feed(event)
    assert acc.result() == _parse(f"{scenario}.json")
