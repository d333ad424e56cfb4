"""Anthropic Messages features beyond the basic exchange: count_tokens, betas, server tools,
max_tokens policy, thinking signatures across providers, request size and auth forms."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from polyrelay.ir.tool_ids import split_id
from tests.integration import servers
from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

PROVIDERS = list(MODELS_BY_PROVIDER)
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)


def user(text: str) -> Any:
    return {"role": "user", "content": text}


def post(gateway: Gateway, api_key: str, body: Any, path: str = "/v1/messages", **headers: Any):
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)


# --- count_tokens ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_count_tokens(client: anthropic.Anthropic, emulator: Emulator, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    emulator.clear()
    response = client.messages.with_raw_response.count_tokens(
        model=model,
        system="be brief",
        tools=[WEATHER_TOOL],
        messages=[user("one two three")],
    )
    count = response.parse().input_tokens
    warnings = response.headers.get("polyrelay-warnings", "")
    if provider in ("anthropic", "gemini"):
        # Exact: the emulator counts words of all text (system, tool descriptions included).
        assert count == 2 + 4 + 3
        assert "estimate" not in warnings
        assert emulator.last()["path"].endswith(("count_tokens", ":countTokens"))
    else:
        text = "be brief" + "get_weather" + "Weather for a city" + "one two three"
        schema = json.dumps(WEATHER_TOOL["input_schema"], separators=(",", ":"))
        assert count == math.ceil(len(text + schema) / 4)
        assert "estimate" in warnings
        assert emulator.requests() == []


def test_count_tokens_forwards_betas_to_anthropic(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [user("a b")]}
    response = post(
        gateway, api_key, body, "/v1/messages/count_tokens", **{"anthropic-beta": "x-2025-01-01"}
    )
    assert response.json() == {"input_tokens": 2}
    assert emulator.last()["headers"].get("anthropic-beta") == "x-2025-01-01"


def test_count_tokens_errors_are_anthropic_shaped(gateway: Gateway, api_key: str) -> None:
    unknown = post(
        gateway, api_key, {"model": "nope", "messages": "x"}, "/v1/messages/count_tokens"
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    wrong = post(gateway, "sk-wrong", {"messages": "x"}, "/v1/messages/count_tokens")
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"


# --- headers: versions and betas ------------------------------------------------------


def test_betas_are_forwarded_to_anthropic(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [user("beta")]}
    response = post(
        gateway,
        api_key,
        body,
        "/v1/messages?beta=true",
        **{"anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14"},
    )
    assert response.status_code == 200
    sent = emulator.last()["headers"]
    assert sent["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    assert "polyrelay-warnings" not in response.headers


def test_repeated_beta_headers_reach_anthropic_joined(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [user("beta")]}
    headers = [
        ("x-api-key", api_key),
        ("anthropic-version", "2023-06-01"),
        ("Anthropic-Beta", "context-1m-2025-08-07"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
    ]
    response = httpx.post(gateway.url + "/v1/messages", json=body, headers=headers)
    assert response.status_code == 200
    sent = emulator.last()["headers"]
    assert sent["anthropic-beta"] == "context-1m-2025-08-07, interleaved-thinking-2025-05-14"
    assert sent["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "gemini"])
def test_betas_elsewhere_are_honoured_or_warned(
    gateway: Gateway, emulator: Emulator, api_key: str, provider: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "max_tokens": 50, "messages": [user("b")]}
    # Repeated headers and comma lists both count.
    headers = [
        ("x-api-key", api_key),
        ("anthropic-version", "2026-10-21"),
        ("anthropic-beta", "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"),
        ("anthropic-beta", "output-128k-2025-02-19"),
        ("anthropic-beta", "claude-code-20250219"),
    ]
    response = httpx.post(gateway.url + "/v1/messages?beta=true", json=body, headers=headers)
    assert response.status_code == 200
    warnings = response.headers["polyrelay-warnings"]
    assert "context-1m-2025-08-07" in warnings and "output-128k-2025-02-19" in warnings
    assert "fine-grained" not in warnings and "claude-code" not in warnings
    assert "anthropic-beta" not in emulator.last()["headers"]


# --- server tools and max_tokens ------------------------------------------------------

BASH_TOOL = {"type": "bash_20250124", "name": "bash"}


def test_server_tools_reach_anthropic(gateway: Gateway, emulator: Emulator, api_key: str) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "tools": [BASH_TOOL, WEATHER_TOOL],
        "messages": [user("tools")],
    }
    assert post(gateway, api_key, body).status_code == 200
    assert emulator.last()["body"]["tools"][0] == BASH_TOOL


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "gemini"])
def test_server_tools_elsewhere_are_400(gateway: Gateway, api_key: str, provider: str) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "tools": [BASH_TOOL], "messages": "x"}
    response = post(gateway, api_key, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "tools.0.type" in error["message"] and "bash_20250124" in error["message"]


@pytest.mark.parametrize(("provider", "limit"), [("openai", 4), ("gemini", 5)])
def test_stop_sequences_over_the_upstream_limit_are_400(
    gateway: Gateway, api_key: str, provider: str, limit: int
) -> None:
    stops = [f"s{i}" for i in range(limit + 1)]
    body = {"model": MODELS_BY_PROVIDER[provider], "stop_sequences": stops, "messages": "x"}
    response = post(gateway, api_key, body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert f"at most {limit} stop sequences, got {limit + 1}" in message
    body["stop_sequences"] = stops[:limit]
    assert post(gateway, api_key, body).status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_max_tokens_above_limit_is_clamped_with_warning(
    gateway: Gateway, emulator: Emulator, api_key: str, provider: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "max_tokens": 64000, "messages": "big"}
    response = post(gateway, api_key, body)
    assert response.status_code == 200
    assert "max_tokens 64000" in response.headers["polyrelay-warnings"]
    sent = json.dumps(emulator.last()["body"])
    # The fast path forwards the client's value; the IR path clamps it to 32000.
    assert ("64000" in sent) == (provider == "anthropic")


# --- thinking signatures go back only to their issuer ---------------------------------


def _gemini_thinking_turn(client: anthropic.Anthropic, stream: bool) -> list[Any]:
    kwargs: Any = {
        "model": "gemini-2.5-flash",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER_TOOL],
        "messages": [user('[[think plan it]] go [[tool get_weather {"city": "Oslo"}]]')],
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(**kwargs)
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].signature.startswith("gw1.")
    call = first.content[1]
    return [
        kwargs["messages"][0],
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "snow"}],
        },
    ]


def _signature_in(call_id: str) -> str:
    _, extensions = split_id(call_id)
    return extensions["gemini.thought_signature"]


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_thought_signature_round_trip(
    client: anthropic.Anthropic, emulator: Emulator, stream: bool
) -> None:
    history = _gemini_thinking_turn(client, stream)
    signature = _signature_in(history[1]["content"][1]["id"])
    assert base64.b64decode(signature).startswith(b"emu-sig-")
    second = client.messages.create(
        model="gemini-2.5-flash", max_tokens=2048, tools=[WEATHER_TOOL], messages=history
    )
    assert second.content[-1].type == "text"
    assert second.content[-1].text == "Tool get_weather returned: snow"
    model_turn = emulator.last()["body"]["contents"][1]
    calls = [p for p in model_turn["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] == signature


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic"])
def test_gemini_signature_never_reaches_another_provider(
    client: anthropic.Anthropic, emulator: Emulator, provider: str
) -> None:
    history = _gemini_thinking_turn(client, stream=False)
    signature = _signature_in(history[1]["content"][1]["id"])
    response = client.messages.with_raw_response.create(
        model=MODELS_BY_PROVIDER[provider], max_tokens=2048, tools=[WEATHER_TOOL], messages=history
    )
    assert response.parse().content[-1].text == "Tool get_weather returned: snow"
    sent = json.dumps(emulator.last()["body"])
    assert signature not in sent and "gw1" not in sent
    assert "dropped" in response.headers.get("polyrelay-warnings", "")


def test_count_tokens_counts_without_foreign_thinking(
    client: anthropic.Anthropic, emulator: Emulator
) -> None:
    """count_tokens to Anthropic relays the client's body, so it must leave out what
    /v1/messages leaves out: thinking another provider issued (a gw1 token Anthropic
    cannot verify), or it counts, or is refused for, what the request would not send."""
    history = _gemini_thinking_turn(client, stream=False)
    model = MODELS_BY_PROVIDER["anthropic"]
    client.messages.create(model=model, max_tokens=2048, tools=[WEATHER_TOOL], messages=history)
    relayed = emulator.last()["body"]["messages"]
    response = client.messages.with_raw_response.count_tokens(
        model=model, tools=[WEATHER_TOOL], messages=history
    )
    assert response.parse().input_tokens > 0
    counted = emulator.last()["body"]["messages"]
    assert "gw1" not in json.dumps(counted)
    assert counted == relayed
    assert "dropped" in response.headers.get("polyrelay-warnings", "")


# --- auth forms, request ids and size limits ------------------------------------------


def test_sdk_with_x_api_key_header(gateway: Gateway, api_key: str) -> None:
    legacy = anthropic.Anthropic(
        base_url=gateway.url,
        api_key=None,
        auth_token=None,
        default_headers={"x-api-key": api_key},
        max_retries=0,
    )
    message = legacy.messages.create(model="gpt-4o-mini", max_tokens=20, messages=[user("xk")])
    assert message.content[0].type == "text" and message.content[0].text == "You said: xk"


@pytest.fixture(scope="module")
def small_gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("small-gateway")
    config = workdir / "polyrelay.yaml"
    config.write_text(
        servers.gateway_config(emulator.url, workdir / "db.sqlite", extra="max_body_bytes: 2048\n")
    )
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = servers.start(
        ["serve", "--config", str(config), "--port", str(port)], url + "/", workdir / "log"
    )
    yield url
    servers.stop(proc)


def test_oversized_body_is_413(small_gateway: str, api_key: str) -> None:
    client = anthropic.Anthropic(base_url=small_gateway, api_key=api_key, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="gpt-4o-mini", max_tokens=20, messages=[user("x" * 5000)])
    assert info.value.status_code == 413
    body: Any = info.value.body
    assert body["error"]["type"] == "request_too_large" and body["request_id"]


def test_a_model_without_reasoning_gets_no_reasoning_settings(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """Claude Code's thinking budget for a model configured `reasoning: false`, or one
    OpenAI names as never reasoning (it refuses reasoning_effort for gpt-4o-mini): left
    out, and the client is told."""
    client = anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    for model, why in (("alias-mini", "does not reason"), ("plain-mini", "takes no reasoning")):
        raw = client.messages.with_raw_response.create(
            model=model,
            max_tokens=4096,
            thinking=thinking,
            messages=[{"role": "user", "content": "hi"}],
        )
        assert "reasoning_effort" not in emulator.last()["body"]
        assert why in raw.headers.get("polyrelay-warnings", "")
