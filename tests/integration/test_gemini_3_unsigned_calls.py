"""Gemini 3 refuses a history whose model turn starts its function calls without a
thoughtSignature. A call Gemini did not sign reaches it with Gemini's documented stand-in:
a legacy Chat `function_call` (no id to carry the signature) and a Claude session's tool
call, now continued on Gemini 3. The upstream here checks that rule as Gemini 3 does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, json_answer, serving
from tests.integration.servers import STATIC_KEY

MODEL = "gemini-three"
HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}
WEATHER: Any = {"name": "get_weather", "parameters": {"type": "object"}}


def _reply(part: dict[str, Any]) -> Answer:
    candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
    return json_answer({"candidates": [candidate], "modelVersion": "gemini-3-flash"})


def gemini_3(path: str, body: bytes) -> Answer:
    """A signed call for a fresh question; 400 for an unsigned call in the history."""
    model_turns = [c for c in json.loads(body)["contents"] if c.get("role") == "model"]
    for turn in model_turns:
        calls = [p for p in turn["parts"] if "functionCall" in p]
        if calls and not calls[0].get("thoughtSignature"):
            error = {
                "code": 400,
                "message": "Function call is missing a thought_signature in functionCall parts.",
                "status": "INVALID_ARGUMENT",
            }
            return json_answer({"error": error}, 400)
    if model_turns:
        return _reply({"text": "It is cold."})
    call = {"name": "get_weather", "args": {"city": "Oslo"}}
    return _reply({"functionCall": call, "thoughtSignature": "c2lnbmVk"})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        gemini_3,
        tmp_path_factory.mktemp("gemini-3-unsigned"),
        {"google": "gemini"},
        {MODEL: "provider: google, model: gemini-3-flash"},
    )


def post(gateway: Gateway, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.url + path, json={"model": MODEL, **body}, headers=HEADERS)


def test_a_legacy_function_call_loop(gateway: Gateway) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather in Oslo?"}]
    first = post(gateway, "/v1/chat/completions", {"messages": messages, "functions": [WEATHER]})
    assert first.status_code == 200, first.text
    call = first.json()["choices"][0]["message"]["function_call"]
    messages += [
        {"role": "assistant", "content": None, "function_call": call},
        {"role": "function", "name": "get_weather", "content": "cold"},
    ]
    final = post(gateway, "/v1/chat/completions", {"messages": messages, "functions": [WEATHER]})
    assert final.status_code == 200, final.text
    assert final.json()["choices"][0]["message"]["content"] == "It is cold."


def test_a_claude_session_s_tool_call(gateway: Gateway) -> None:
    tool_use = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "cold"}
    body = {
        "max_tokens": 100,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "content": [tool_use]},
            {"role": "user", "content": [result]},
        ],
    }
    response = post(gateway, "/v1/messages", body)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "It is cold."
    assert "stand-in signature" in response.headers["polyrelay-warnings"]
