"""Requests real Anthropic refuses with a 400 do not leave the gateway in that shape when
an OpenAI client is served by Claude: sampling beside thinking (a temperature other than
1, top_p below 0.95), temperature and top_p together to a 4.5 model, a stop sequence of
whitespace only, a prefill ending in whitespace, and a tool whose parameters say no
`type`. The emulator refuses them as Anthropic does (emulator/anthropic_checks.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway

MODEL = "claude-sonnet-4-5"
HI = {"role": "user", "content": "hi"}


def chat(gateway: Gateway, api_key: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {api_key}"}
    body = {"model": MODEL, **body}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def sent(emulator: Emulator) -> Any:
    return emulator.last()["body"]


@pytest.mark.parametrize("stream", [False, True])
def test_sampling_beside_thinking_is_dropped(
    gateway: Gateway, emulator: Emulator, api_key: str, stream: bool
) -> None:
    body = {"messages": [HI], "reasoning_effort": "low", "temperature": 0.2, "top_p": 0.5}
    response = chat(gateway, api_key, {**body, "stream": stream})
    assert response.status_code == 200, response.text
    upstream = sent(emulator)
    assert upstream["thinking"]["type"] == "enabled"
    assert "temperature" not in upstream and "top_p" not in upstream
    assert "Anthropic takes only 1 with thinking" in response.headers["polyrelay-warnings"]


def test_temperature_and_top_p_to_a_4_5_model_keep_temperature(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    response = chat(gateway, api_key, {"messages": [HI], "temperature": 0.3, "top_p": 0.9})
    assert response.status_code == 200, response.text
    assert sent(emulator)["temperature"] == 0.3
    assert "top_p" not in sent(emulator)


def test_whitespace_stop_sequences_are_dropped(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    response = chat(gateway, api_key, {"messages": [HI], "stop": ["\n", "END", " "]})
    assert response.status_code == 200, response.text
    assert sent(emulator)["stop_sequences"] == ["END"]


def test_a_prefill_ending_in_whitespace_is_trimmed(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    prefill = {"role": "assistant", "content": "The answer is "}
    response = chat(gateway, api_key, {"messages": [HI, prefill]})
    assert response.status_code == 200, response.text
    last = sent(emulator)["messages"][-1]
    assert last["content"] == [{"type": "text", "text": "The answer is"}]


def test_a_tool_without_a_schema_type_is_sent_as_an_object(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    parameters = {"properties": {"city": {"type": "string"}}}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}
    response = chat(gateway, api_key, {"messages": [HI], "tools": [tool]})
    assert response.status_code == 200, response.text
    assert sent(emulator)["tools"][0]["input_schema"] == {"type": "object", **parameters}


def test_whitespace_only_text_beside_tool_calls_is_left_out(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        HI,
        {"role": "assistant", "content": "\n\n", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [{"type": "text", "text": " "}, {"type": "text", "text": "more"}],
        },
    ]
    response = chat(gateway, api_key, {"messages": messages})
    assert response.status_code == 200, response.text
    upstream = sent(emulator)["messages"]
    assert upstream[1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    ]
    # Beside real text a blank block is taken, and stays.
    assert upstream[-1]["content"][0] == {"type": "text", "text": " "}


OPEN_SCHEMA: Any = {
    "type": "object",
    "properties": {"city": {"type": "object", "properties": {"name": {"type": "string"}}}},
}
CLOSED_SCHEMA: Any = {
    "type": "object",
    "properties": {
        "city": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_a_json_schema_without_additional_properties_is_closed(
    gateway: Gateway, emulator: Emulator, api_key: str, stream: bool
) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": OPEN_SCHEMA}}
    body = {"messages": [HI], "response_format": response_format, "stream": stream}
    response = chat(gateway, api_key, body)
    assert response.status_code == 200, response.text
    assert sent(emulator)["output_config"]["format"]["schema"] == CLOSED_SCHEMA


def test_a_strict_tool_schema_is_closed(gateway: Gateway, emulator: Emulator, api_key: str) -> None:
    function = {"name": "get_weather", "parameters": OPEN_SCHEMA, "strict": True}
    body = {"messages": [HI], "tools": [{"type": "function", "function": function}]}
    response = chat(gateway, api_key, body)
    assert response.status_code == 200, response.text
    assert sent(emulator)["tools"][0]["input_schema"] == CLOSED_SCHEMA


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_ids_of_another_model_still_pair(
    gateway: Gateway, emulator: Emulator, api_key: str, stream: bool
) -> None:
    """Kimi-style ids (`functions.NAME:INDEX`) hold characters Anthropic's ids may not."""
    calls = [
        {"id": f"functions.f:{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in range(2)
    ]
    messages = [
        HI,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "functions.f:0", "content": "zero"},
        {"role": "tool", "tool_call_id": "functions.f:1", "content": "one"},
    ]
    response = chat(gateway, api_key, {"messages": messages, "stream": stream})
    assert response.status_code == 200, response.text
    upstream = sent(emulator)["messages"]
    ids = [block["id"] for block in upstream[1]["content"]]
    assert [block["tool_use_id"] for block in upstream[2]["content"]] == ids
    assert len(set(ids)) == 2 and all(i.startswith("functions_f_") for i in ids)


@pytest.mark.parametrize("stream", [False, True])
def test_a_prefill_with_reasoning_effort_turns_thinking_off(
    gateway: Gateway, emulator: Emulator, api_key: str, stream: bool
) -> None:
    prefill = {"role": "assistant", "content": "The answer is"}
    body = {"messages": [HI, prefill], "reasoning_effort": "low", "stream": stream}
    response = chat(gateway, api_key, body)
    assert response.status_code == 200, response.text
    assert "thinking" not in sent(emulator)
    assert "a prefill" in response.headers["polyrelay-warnings"]


def test_thinking_that_ends_a_responses_turn_is_dropped(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """A turn cut short while Claude thought comes back as a lone reasoning item."""
    headers = {"authorization": f"Bearer {api_key}"}
    body: Any = {"model": MODEL, "reasoning": {"effort": "low"}, "store": False}
    body["include"] = ["reasoning.encrypted_content"]
    first = httpx.post(
        gateway.url + "/v1/responses",
        json={**body, "input": "hi [[think about it]]"},
        headers=headers,
        timeout=30,
    )
    reasoning = [item for item in first.json()["output"] if item["type"] == "reasoning"]
    assert reasoning and reasoning[0]["encrypted_content"]
    turn = [{"role": "user", "content": "hi"}, *reasoning, {"role": "user", "content": "go on"}]
    response = httpx.post(
        gateway.url + "/v1/responses", json={**body, "input": turn}, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    assert [m["role"] for m in sent(emulator)["messages"]] == ["user"]
    assert "thinking that ended an assistant turn" in response.headers["polyrelay-warnings"]


def test_a_system_message_of_whitespace_is_left_out(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    system = [{"role": "system", "content": "Be brief."}, {"role": "system", "content": "\n"}]
    response = chat(gateway, api_key, {"messages": [*system, HI]})
    assert response.status_code == 200, response.text
    assert sent(emulator)["system"] == "Be brief."
