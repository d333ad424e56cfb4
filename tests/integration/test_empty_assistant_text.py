"""An assistant turn of `content: ""` beside tool calls (the openai SDK's stream
accumulator sends it back, since a stream starts with `content: ""`) reaches Anthropic and
Gemini without an empty text block or part, which both refuse with a 400."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway

TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object"}},
}
HISTORY: Any = [
    {"role": "user", "content": "weather in Oslo?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "snow"},
]


def _assistant_turn(body: Any) -> Any:
    if "contents" in body:  # Gemini
        return next(c["parts"] for c in body["contents"] if c["role"] == "model")
    return next(m["content"] for m in body["messages"] if m["role"] == "assistant")


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash"])
def test_empty_assistant_content_is_left_out(
    gateway: Gateway, emulator: Emulator, api_key: str, model: str
) -> None:
    emulator.clear()
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": model, "messages": HISTORY, "tools": [TOOL]},
        headers={"authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    turn = _assistant_turn(emulator.last()["body"])
    assert len(turn) == 1
    assert "text" not in turn[0] or turn[0].get("type") == "tool_use"
