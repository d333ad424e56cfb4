"""Gemini response, error and countTokens bodies → IR."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from google.genai import types as gtypes

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import ReasoningPart, StopReason, TextPart, ToolCallPart, Usage
from polyrelay.providers import Route, UpstreamResponse
from polyrelay.providers.gemini import GeminiProvider

PROVIDER = GeminiProvider()
JSON_SCENARIOS = ["basic", "tools", "parallel-tools", "reasoning", "max-tokens", "refusal"]


def ok(body: bytes) -> UpstreamResponse:
    return UpstreamResponse(status=200, headers={}, body=body)


def candidate_body(parts: list[dict[str, object]], finish: str | None) -> bytes:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": parts}}
    if finish is not None:
        candidate["finishReason"] = finish
    return json.dumps({"candidates": [candidate]}).encode()


@pytest.mark.parametrize("scenario", JSON_SCENARIOS)
def test_fixtures_are_valid_for_the_sdk(upstream: Callable[[str], bytes], scenario: str) -> None:
    sdk = gtypes.GenerateContentResponse.model_validate(json.loads(upstream(f"{scenario}.json")))
    assert sdk.model_version == "gemini-2.5-flash"


def test_basic(upstream: Callable[[str], bytes], route: Route, ctx: RequestContext) -> None:
    resp = PROVIDER.parse_response(ok(upstream("basic.json")), route, ctx)
    assert resp.id == "r-basic1"
    assert resp.model == "gemini-2.5-flash"
    assert resp.parts == (TextPart(text="Hello! How can I help you today?"),)
    assert resp.stop_reason is StopReason.END_TURN
    assert resp.usage == Usage(input_tokens=5, output_tokens=9, cache_read_tokens=2)


def test_tools_invent_id_and_keep_signature(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    resp = PROVIDER.parse_response(ok(upstream("tools.json")), route, ctx)
    text, call = resp.parts
    assert text == TextPart(text="Checking the forecast now.")
    assert isinstance(call, ToolCallPart)
    assert call.id.startswith("call_") and len(call.id) > 10
    assert call.name == "get_forecast"
    assert call.arguments == '{"city":"Oslo","days":3}'
    assert call.extensions == {"gemini.thought_signature": "c2lnLWV4YW1wbGU="}
    assert resp.stop_reason is StopReason.TOOL_USE
    assert resp.usage == Usage(input_tokens=412, output_tokens=58, reasoning_tokens=38)


def test_parallel_calls_get_distinct_ids(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    resp = PROVIDER.parse_response(ok(upstream("parallel-tools.json")), route, ctx)
    calls = [p for p in resp.parts if isinstance(p, ToolCallPart)]
    assert [c.arguments for c in calls] == ['{"city":"Paris"}', '{"city":"Tokyo"}']
    assert calls[0].id != calls[1].id
    assert calls[1].extensions == {}


def test_gemini_call_id_is_kept(route: Route, ctx: RequestContext) -> None:
    part = {"functionCall": {"id": "fc-7", "name": "f", "args": {}}}
    resp = PROVIDER.parse_response(ok(candidate_body([part], "STOP")), route, ctx)
    assert resp.parts == (ToolCallPart(id="fc-7", name="f", arguments="{}"),)


def test_reasoning_and_text_signature(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    resp = PROVIDER.parse_response(ok(upstream("reasoning.json")), route, ctx)
    assert resp.parts == (
        ReasoningPart(text="**Counting** I need to add 2 and 2.", origin="gemini"),
        TextPart(text="2 + 2 = 4."),
        ReasoningPart(signature="cmVhc29uLXNpZw==", origin="gemini"),
    )
    assert resp.usage.reasoning_tokens == 40


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("MAX_TOKENS", StopReason.MAX_TOKENS),
        ("SAFETY", StopReason.REFUSAL),
        ("RECITATION", StopReason.REFUSAL),
        ("IMAGE_SAFETY", StopReason.REFUSAL),
        ("MALFORMED_FUNCTION_CALL", StopReason.END_TURN),
        ("OTHER", StopReason.END_TURN),
    ],
)
def test_finish_reasons_with_output(
    route: Route, ctx: RequestContext, finish: str, expected: StopReason
) -> None:
    resp = PROVIDER.parse_response(ok(candidate_body([{"text": "x"}], finish)), route, ctx)
    assert resp.stop_reason is expected


def test_failure_finish_without_output_is_an_upstream_error(
    route: Route, ctx: RequestContext
) -> None:
    with pytest.raises(UpstreamError, match="MALFORMED_FUNCTION_CALL") as info:
        PROVIDER.parse_response(ok(candidate_body([], "MALFORMED_FUNCTION_CALL")), route, ctx)
    assert info.value.status == 502


def test_blocked_prompt_is_a_refusal(
    upstream: Callable[[str], bytes], route: Route, ctx: RequestContext
) -> None:
    resp = PROVIDER.parse_response(ok(upstream("refusal.json")), route, ctx)
    assert resp.parts == ()
    assert resp.stop_reason is StopReason.REFUSAL
    assert resp.usage.input_tokens == 9


def test_missing_ids_and_model_fall_back(route: Route, ctx: RequestContext) -> None:
    resp = PROVIDER.parse_response(ok(candidate_body([{"text": "x"}], "STOP")), route, ctx)
    assert resp.model == "gemini-2.5-flash"
    assert resp.id.startswith("gemini-")


def test_non_text_parts_warn(route: Route, ctx: RequestContext) -> None:
    parts = [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}, {"text": "x"}]
    PROVIDER.parse_response(ok(candidate_body(parts, "STOP")), route, ctx)
    assert any("non-text part" in w for w in ctx.warnings)


def test_unreadable_body(route: Route, ctx: RequestContext) -> None:
    with pytest.raises(UpstreamError) as info:
        PROVIDER.parse_response(ok(b"<html>"), route, ctx)
    assert info.value.status == 502


def test_error_400(upstream: Callable[[str], bytes]) -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(status=400, headers={}, body=upstream("upstream-400.json"))
    )
    # No code: Google's RPC status (INVALID_ARGUMENT) is not a code OpenAI clients know.
    assert (err.status, err.kind, err.code) == (400, "invalid_request_error", None)
    assert "contents is not specified" in err.message


def test_error_429_list_body_with_retry_info(upstream: Callable[[str], bytes]) -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(status=429, headers={}, body=upstream("upstream-429.json"))
    )
    assert (err.status, err.kind) == (429, "rate_limit_error")
    assert err.retry_after == "37"


@pytest.mark.parametrize(
    ("status", "rpc", "kind", "client_status"),
    [
        (404, "NOT_FOUND", "not_found_error", 404),
        (500, "INTERNAL", "api_error", 500),
        (503, "UNAVAILABLE", "overloaded_error", 503),
        (504, "DEADLINE_EXCEEDED", "timeout_error", 504),
        (401, "UNAUTHENTICATED", "api_error", 500),
        (403, "PERMISSION_DENIED", "api_error", 500),
    ],
)
def test_error_mapping(status: int, rpc: str, kind: str, client_status: int) -> None:
    body = json.dumps({"error": {"code": status, "message": "m", "status": rpc}}).encode()
    err = PROVIDER.parse_error(UpstreamResponse(status=status, headers={}, body=body))
    assert (err.status, err.kind) == (client_status, kind)
    if status in (401, 403):
        assert "credential" in err.message


@pytest.mark.parametrize("reason", ["API_KEY_INVALID", "API_KEY_EXPIRED"])
def test_a_refused_key_is_the_gateway_s_credential(reason: str) -> None:
    """Gemini answers an unknown or expired key with 400 INVALID_ARGUMENT."""
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
    error = {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}
    body = json.dumps({"error": {**error, "details": [info]}}).encode()
    err = PROVIDER.parse_error(UpstreamResponse(status=400, headers={}, body=body))
    assert (err.status, err.kind) == (500, "api_error")
    assert "credential" in err.message


def test_error_with_non_json_body_and_retry_after_header() -> None:
    err = PROVIDER.parse_error(
        UpstreamResponse(status=429, headers={"retry-after": "5"}, body=b"slow down")
    )
    assert (err.status, err.kind, err.retry_after) == (429, "rate_limit_error", "5")
    # Not Gemini's JSON: a proxy's text, which the client is told of but not shown.
    assert "slow down" not in err.message and "429" in err.message


def test_count_tokens() -> None:
    body = b'{"totalTokens": 31}'
    gtypes.CountTokensResponse.model_validate(json.loads(body))
    assert PROVIDER.parse_count_tokens(ok(body)) == 31
    with pytest.raises(UpstreamError):
        PROVIDER.parse_count_tokens(ok(b"nope"))


def test_consecutive_parts_fold_with_their_signatures(route: Route, ctx: RequestContext) -> None:
    parts: list[dict[str, object]] = [
        {"text": "think ", "thought": True, "thoughtSignature": "s1"},
        {"text": "more", "thought": True},
        {"text": "Hel"},
        {"text": "lo", "thoughtSignature": "s2"},
        {"functionCall": {"id": "fc-1", "name": "f", "args": {}}},
        {"text": "after"},
    ]
    resp = PROVIDER.parse_response(ok(candidate_body(parts, "STOP")), route, ctx)
    assert resp.parts == (
        ReasoningPart(text="think more", signature="s1", origin="gemini"),
        TextPart(text="Hello"),
        ReasoningPart(signature="s2", origin="gemini"),
        ToolCallPart(id="fc-1", name="f", arguments="{}"),
        TextPart(text="after"),
    )


def test_many_small_text_parts_fold_in_linear_time(route: Route, ctx: RequestContext) -> None:
    """Each part used to be joined onto the text so far: 600,000 of them took 9 s."""
    body = candidate_body([{"text": "ab"}] * 600_000, "STOP")
    started = time.process_time()
    resp = PROVIDER.parse_response(ok(body), route, ctx)
    assert time.process_time() - started < 3
    assert resp.parts == (TextPart(text="ab" * 600_000),)
