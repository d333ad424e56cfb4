"""A tool loop with thinking on, from clients that cannot send Claude's thinking back.

With thinking on, Anthropic refuses a tool loop whose last assistant message does not
start with its thinking block (the emulator refuses it as the API does). A Chat client has
no place for thinking, and a Responses client with `store: false` that did not ask for
`reasoning.encrypted_content` has none to send: for their tool-result turn the gateway
turns thinking off, and says so. A Responses client that sends its reasoning back keeps
thinking on."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.conftest import Emulator, Gateway

MODEL = "claude-sonnet-4-5"
FUNCTION: Any = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PROMPT = 'weather? [[think checking the sky]] [[tool get_weather {"city": "Oslo"}]]'
ANSWER = "Tool get_weather returned: cold"
TURNED_OFF = "thinking was turned off for this turn"


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_tool_loop_with_reasoning_effort_is_answered(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    kwargs: Any = {
        "model": MODEL,
        "messages": messages,
        "tools": [{"type": "function", "function": FUNCTION}],
        "reasoning_effort": "low",
    }
    first = client.chat.completions.create(**kwargs)
    assert emulator.last()["body"]["thinking"]["type"] == "enabled"
    calls = first.choices[0].message.tool_calls or []
    assert len(calls) == 1
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "cold"},
    ]
    raw = client.chat.completions.with_raw_response.create(**kwargs, stream=stream)
    if stream:
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices
        )
    else:
        text = raw.parse().choices[0].message.content or ""
    assert text == ANSWER
    assert "thinking" not in emulator.last()["body"]
    assert TURNED_OFF in raw.headers["polyrelay-warnings"]


def test_a_responses_tool_loop_keeps_thinking_when_the_reasoning_comes_back(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    kwargs: Any = {
        "model": MODEL,
        "tools": [{"type": "function", **FUNCTION}],
        "reasoning": {"effort": "low"},
        "store": False,
    }
    first = client.responses.create(input=PROMPT, include=["reasoning.encrypted_content"], **kwargs)
    call = next(item for item in first.output if item.type == "function_call")
    reasoning = [item.model_dump() for item in first.output if item.type == "reasoning"]
    assert reasoning and reasoning[0]["encrypted_content"]
    turn: list[Any] = [{"type": "function_call_output", "call_id": call.call_id, "output": "cold"}]
    items = [call.model_dump(exclude_none=True)]

    kept = client.responses.with_raw_response.create(
        input=[{"role": "user", "content": PROMPT}, *reasoning, *items, *turn], **kwargs
    )
    assert kept.parse().output_text == ANSWER
    sent = emulator.last()["body"]
    assert sent["thinking"]["type"] == "enabled"
    assert sent["messages"][1]["content"][0]["type"] == "thinking"
    assert TURNED_OFF not in kept.headers.get("polyrelay-warnings", "")

    lost = client.responses.with_raw_response.create(
        input=[{"role": "user", "content": PROMPT}, *items, *turn], **kwargs
    )
    assert lost.parse().output_text == ANSWER
    assert "thinking" not in emulator.last()["body"]
    assert TURNED_OFF in lost.headers["polyrelay-warnings"]
