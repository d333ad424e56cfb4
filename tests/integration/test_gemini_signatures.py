"""Gemini's thought signatures survive a tool loop through clients that have no field for
them: they travel in the tool-call id and go back to Gemini on the next turn."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.conftest import Emulator, Gateway

TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PROMPT = 'weather? [[think checking the sky]] [[tool get_weather {"city": "Oslo"}]]'


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def function_call_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for c in body["contents"] for p in c["parts"] if "functionCall" in p]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_tool_loop_returns_the_signature(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    kwargs: Any = {"model": "gemini-2.5-flash", "messages": messages, "tools": [TOOL]}
    if stream:
        with client.chat.completions.stream(**kwargs) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(**kwargs)
    calls = first.choices[0].message.tool_calls or []
    assert len(calls) == 1
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "cold"},
    ]
    final = client.chat.completions.create(**kwargs)
    assert final.choices[0].message.content == "Tool get_weather returned: cold"
    sent = emulator.last()["body"]
    (call,) = function_call_parts(sent)
    assert call.get("thoughtSignature")
    responses = [
        p["functionResponse"]
        for c in sent["contents"]
        for p in c["parts"]
        if "functionResponse" in p
    ]
    assert responses[0]["id"] == call["functionCall"]["id"]
    assert "__gw1_" not in call["functionCall"]["id"]


def test_responses_tool_loop_returns_the_signature(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    first = client.responses.create(
        model="gemini-2.5-flash",
        input=PROMPT,
        tools=[{"type": "function", **TOOL["function"]}],
        store=False,
    )
    call = next(item for item in first.output if item.type == "function_call")
    history: list[Any] = [
        {"role": "user", "content": PROMPT},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "cold"},
    ]
    final = client.responses.create(
        model="gemini-2.5-flash",
        input=history,
        store=False,
        tools=[{"type": "function", **TOOL["function"]}],
    )
    assert final.output_text == "Tool get_weather returned: cold"
    (sent_call,) = function_call_parts(emulator.last()["body"])
    assert sent_call.get("thoughtSignature")
