"""A translated answer has the native one's shape: for each client protocol, the same prompt
to its own upstream type (the fast path, the provider's native shape as the emulator
writes it) and to every other upstream type gives the same keys with the same types, the
same events in the same order, ids of the same format and the headers a client reads.
What legitimately differs is in ALLOWED, each with why."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Gateway
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY
from tests.integration.shapes import (
    differences,
    header_shape,
    shape,
    sse_events,
    stream_differences,
)

NATIVE = {"chat": "openai", "messages": "anthropic", "responses": "openai-responses"}
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOL_NAMES = ("get_weather", "get_time")
PROMPTS = {
    "text": "Hello there",
    "think": "[[think pondering the question]] Hello there",
    "tool": '[[tool get_weather {"city": "Paris"}]]',
    "two_tools": '[[tool get_weather {"city": "Paris"}]] [[tool get_time {"city": "Rome"}]]',
    "max_tokens": "[[words 60]]",
    "stop": "one two three STOPHERE four five",
    "error_429": "[[error 429]]",
    "error_500": "[[error 500]]",
}


def _tools(protocol: str) -> list[dict[str, Any]]:
    if protocol == "chat":
        return [
            {"type": "function", "function": {"name": n, "parameters": SCHEMA}} for n in TOOL_NAMES
        ]
    if protocol == "messages":
        return [{"name": n, "input_schema": SCHEMA} for n in TOOL_NAMES]
    return [{"type": "function", "name": n, "parameters": SCHEMA} for n in TOOL_NAMES]


def request_body(protocol: str, scenario: str, model: str, stream: bool) -> dict[str, Any]:
    prompt = PROMPTS[scenario]
    body: dict[str, Any] = {"model": model, "stream": stream}
    if protocol == "responses":
        body["input"] = prompt
        body["max_output_tokens"] = 16 if scenario == "max_tokens" else 1000
        if scenario == "think":
            body["reasoning"] = {"effort": "low", "summary": "auto"}
    else:
        body["messages"] = [{"role": "user", "content": prompt}]
        body["max_tokens"] = 5 if scenario == "max_tokens" else 2000
    if protocol == "chat" and stream:
        body["stream_options"] = {"include_usage": True}
    if protocol == "messages" and scenario == "think":
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    if scenario == "stop":
        body["stop_sequences" if protocol == "messages" else "stop"] = ["STOPHERE"]
    if scenario in ("tool", "two_tools"):
        body["tools"] = _tools(protocol)
    return body


HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}


@cache
def _answer(url: str, protocol: str, scenario: str, upstream: str, stream: bool) -> tuple[Any, ...]:
    body = request_body(protocol, scenario, MODELS_BY_PROVIDER[upstream], stream)
    reply = httpx.post(url + PATHS[protocol], json=body, headers=HEADERS, timeout=30)
    if stream and reply.status_code == 200:
        payload: Any = sse_events(reply.text)
    else:
        payload = shape(reply.json())
    return reply.status_code, header_shape(reply.headers), payload


def compare(url: str, protocol: str, scenario: str, upstream: str, stream: bool) -> list[str]:
    status, headers, payload = _answer(url, protocol, scenario, NATIVE[protocol], stream)
    t_status, t_headers, t_payload = _answer(url, protocol, scenario, upstream, stream)
    found = [f"status {t_status}, native {status}"] if status != t_status else []
    found += [f"header {d}" for d in differences(headers, t_headers)]
    if stream and status == t_status == 200:
        found += stream_differences(payload, t_payload)
    else:
        found += differences(payload, t_payload)
    return found


ANY, OTHERS = ".*", "openai|openai-responses|anthropic|gemini"
# (client protocol, upstream regex, scenario regex, difference regex): why it is legitimate.
ALLOWED: dict[tuple[str, str, str, str], str] = {
    # An upstream's own tool-call id is relayed as it is (toolu_ to a Chat or Responses
    # client, call_ to a Messages client): the next turn sends it back to the upstream that
    # made it, and the SDKs type it as an opaque string. Only an upstream without ids
    # (Gemini) gets ids minted in the client's format.
    ("chat", ANY, "tool|two_tools", r"tool_calls\[\d\]\.id: \"id:toolu_"): "upstream's own id",
    ("messages", ANY, "tool|two_tools", r"\.id: \"id:call_"): "upstream's own id",
    ("responses", ANY, "tool|two_tools", r"call_id: \"id:toolu_"): "upstream's own id",
    # Chat: OpenAI's backend fingerprint, which no other upstream has; OpenAI itself sends
    # null when it has none, and the SDK types it optional.
    ("chat", OTHERS, ANY, r"system_fingerprint: missing"): "OpenAI's own",
    # Chat: Claude thinks only when the request asks (a Chat request asks with
    # reasoning_effort, which these do not send); the emulator's Chat model always reasons.
    ("chat", "anthropic", "think", r"reasoning_content"): "not asked to think",
    # Messages: `server_tool_use` is null without server tools (the reference allows null;
    # Anthropic's SDK types it optional), and the service tier is Anthropic's own: the other
    # upstreams' tiers have other names and meanings.
    ("messages", OTHERS, ANY, r"usage\.server_tool_use: extra \(\"null\"\)"): "null allowed",
    ("messages", OTHERS, ANY, r"usage\.service_tier: missing"): "Anthropic's own tiers",
    # Messages: thinking tokens reported by the upstream (README, usage accounting).
    ("messages", OTHERS, "think", r"usage\.output_tokens_details: extra"): "documented",
    # Messages: OpenAI's and Gemini's answers say "stop" whether a stop sequence or the
    # model ended the turn, and do not say which sequence: the gateway cannot tell (a
    # Responses upstream has no stop parameter at all: dropped, warned, README).
    ("messages", OTHERS, "stop", r"stop_reason: \"=end_turn\"|stop_sequence: \"null\""): (
        "upstream does not say"
    ),
    # Responses: request parameters OpenAI echoes (the reference lists them; the native
    # answer leaves them out), and completed_at null until the response completes.
    ("responses", OTHERS, ANY, r"\.(background|user): extra"): "echoed request parameters",
    ("responses", OTHERS, ANY, r"completed_at: extra \(\"null\"\)"): "not completed yet",
    # Responses: `logprobs: []` on output_text and `status` on a reasoning item are optional
    # in the reference and the SDK; OpenAI sends them.
    ("responses", OTHERS, ANY, r"logprobs: extra \(\[\]\)"): "optional, sent by OpenAI",
    ("responses", OTHERS, "think", r"status: extra"): "optional, sent by OpenAI",
    # Responses from Gemini: the signature Gemini puts after the text goes back to Gemini in
    # a reasoning item's encrypted_content, the one place a Responses client keeps opaque
    # state for the next turn (docs/responses.md).
    ("responses", "gemini", "think", r"output: 3 items, native 2|events insert: .*output_item"): (
        "Gemini's signature"
    ),
}


def _allowed(protocol: str, upstream: str, scenario: str, difference: str) -> bool:
    return any(
        p == protocol
        and re.fullmatch(u, upstream)
        and re.fullmatch(s, scenario)
        and re.search(d, difference)
        for p, u, s, d in ALLOWED
    )


CASES = [
    (protocol, upstream, scenario, stream)
    for protocol in NATIVE
    for upstream in MODELS_BY_PROVIDER
    if upstream != NATIVE[protocol]
    for scenario in PROMPTS
    if not (protocol == "responses" and scenario == "stop")  # Responses has no stop parameter
    for stream in (False, True)
]


@pytest.mark.parametrize(("protocol", "upstream", "scenario", "stream"), CASES)
def test_translated_answer_has_the_native_shape(
    gateway: Gateway, protocol: str, upstream: str, scenario: str, stream: bool
) -> None:
    found = compare(gateway.url, protocol, scenario, upstream, stream)
    faults = [d for d in found if not _allowed(protocol, upstream, scenario, d)]
    assert not faults, "\n".join(faults)
