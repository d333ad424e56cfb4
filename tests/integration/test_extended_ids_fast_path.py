"""A conversation that went through Gemini carries tool-call ids this gateway extended
with Gemini's thought signature (`<id>__gw1_<data>`, ir/tool_ids.py). Continued on a
same-protocol upstream (the fast path relays the client's own body), the ids go out
plain: an OpenAI upstream refuses a tool-call id past 40 characters, and Gemini's state is
no business of another upstream. Official SDKs → a real gateway → the emulator."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway

PROMPT = 'weather? [[think checking the sky]] [[tool get_weather {"city": "Oslo"}]]'
SCHEMA: Any = {"type": "object", "properties": {"city": {"type": "string"}}}


@pytest.fixture
def oai(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def sent(emulator: Emulator) -> str:
    return json.dumps(emulator.last()["body"])


def test_chat_history_from_gemini_goes_to_openai_with_plain_ids(
    oai: openai.OpenAI, emulator: Emulator
) -> None:
    tool: Any = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
    messages: Any = [{"role": "user", "content": PROMPT}]
    first = oai.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[tool])
    [call] = first.choices[0].message.tool_calls or []
    assert "__gw1_" in call.id
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "cold"},
    ]
    final = oai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[tool])
    assert final.choices[0].message.content == "Tool get_weather returned: cold"
    body = emulator.last()["body"]
    plain = call.id.partition("__gw1_")[0]
    assert body["messages"][1]["tool_calls"][0]["id"] == plain
    assert body["messages"][2]["tool_call_id"] == plain
    assert "__gw1_" not in sent(emulator)


def test_responses_input_from_gemini_goes_to_openai_with_plain_ids(
    oai: openai.OpenAI, emulator: Emulator
) -> None:
    tool: Any = {"type": "function", "name": "get_weather", "parameters": SCHEMA}
    first = oai.responses.create(model="gemini-2.5-flash", input=PROMPT, tools=[tool], store=False)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert "__gw1_" in call.call_id
    items: Any = [
        {"role": "user", "content": PROMPT},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "cold"},
    ]  # fmt: skip
    final = oai.responses.create(model="gpt-5-mini", input=items, tools=[tool], store=False)
    assert final.output_text == "Tool get_weather returned: cold"
    assert "__gw1_" not in sent(emulator)


def test_messages_history_from_gemini_goes_to_anthropic_with_plain_ids(
    gateway: Gateway, api_key: str, emulator: Emulator
) -> None:
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)
    tools: Any = [{"name": "get_weather", "input_schema": SCHEMA}]
    messages: Any = [{"role": "user", "content": PROMPT}]
    kwargs: Any = {"max_tokens": 300, "tools": tools, "messages": messages}
    first = claude.messages.create(model="gemini-2.5-flash", **kwargs)
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert "__gw1_" in call.id
    messages += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": call.id,
                                           "name": call.name, "input": call.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": "cold"}]},
    ]  # fmt: skip
    final = claude.messages.create(model="claude-sonnet-4-5", **kwargs)
    assert final.content[-1].type == "text"
    assert "__gw1_" not in sent(emulator)


def test_a_stored_history_from_gemini_goes_to_openai_with_plain_ids(
    oai: openai.OpenAI, emulator: Emulator
) -> None:
    """previous_response_id: the history the gateway stored carries the extended ids."""
    tool: Any = {"type": "function", "name": "get_weather", "parameters": SCHEMA}
    first = oai.responses.create(model="gemini-2.5-flash", input=PROMPT, tools=[tool])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert "__gw1_" in call.call_id
    final = oai.responses.create(
        model="gpt-5-mini",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "cold"}],
        tools=[tool],
    )
    assert final.output_text == "Tool get_weather returned: cold"
    assert "__gw1_" not in sent(emulator)
