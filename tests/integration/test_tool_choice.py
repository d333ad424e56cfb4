"""A tool choice sent in each client protocol (Chat, Responses, Messages, with the official
SDKs) reaches each upstream type in that upstream's own terms: a forced choice of a named
tool, or of any tool, is answered with a call of it, and `none` with text even where the
emulator's script asks for a call. The emulator honours the choice only in its own
protocol's form, so a mistranslated choice shows as the wrong answer."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

PROVIDERS = list(MODELS_BY_PROVIDER)
SCHEMA: Any = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
NAMES = ("get_forecast", "get_tides")
PROMPT = "weather please"
# The emulator's forced call: the smallest instance of the schema, strings the user's text.
FORCED_ARGS = {"city": "weather please", "days": 1}
# The script asks for get_tides: only `none` keeps it from being called.
SCRIPTED = 'weather please [[tool get_tides {"city": "Bergen"}]]'
TEXT = "You said: weather please"

# Each intent in each client protocol: (prompt, choice, the call expected or None for text).
CHOICES: dict[str, dict[str, Any]] = {
    "named": {
        "chat": {"type": "function", "function": {"name": "get_tides"}},
        "responses": {"type": "function", "name": "get_tides"},
        "messages": {"type": "tool", "name": "get_tides"},
    },
    "required": {"chat": "required", "responses": "required", "messages": {"type": "any"}},
    "none": {"chat": "none", "responses": "none", "messages": {"type": "none"}},
}
EXPECTED: dict[str, tuple[str, tuple[str, dict[str, Any]] | None]] = {
    "named": (PROMPT, ("get_tides", FORCED_ARGS)),
    # "Any tool": the emulator calls the first one declared, so the order must survive too.
    "required": (PROMPT, ("get_forecast", FORCED_ARGS)),
    "none": (SCRIPTED, None),
}
# What each upstream must have received for the named choice.
UPSTREAM_NAMED: dict[str, Any] = {
    "openai": {"type": "function", "function": {"name": "get_tides"}},
    "openai-responses": {"type": "function", "name": "get_tides"},
    "anthropic": {"type": "tool", "name": "get_tides"},
    "gemini": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_tides"]}},
}


def _chat(
    gateway: Gateway, api_key: str, model: str, prompt: str, choice: Any, stream: bool
) -> tuple[list[Any], str | None]:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)
    tools: Any = [
        {"type": "function", "function": {"name": name, "parameters": SCHEMA}} for name in NAMES
    ]
    kwargs: Any = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    kwargs |= {"tools": tools, "tool_choice": choice}
    if stream:
        with client.chat.completions.stream(**kwargs) as events:
            message = events.get_final_completion().choices[0].message
    else:
        message = client.chat.completions.create(**kwargs).choices[0].message
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    return calls, message.content


def _responses(
    gateway: Gateway, api_key: str, model: str, prompt: str, choice: Any, stream: bool
) -> tuple[list[Any], str | None]:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)
    tools: Any = [
        {"type": "function", "name": name, "parameters": SCHEMA, "strict": False} for name in NAMES
    ]
    kwargs: Any = {"model": model, "input": prompt, "tools": tools, "tool_choice": choice}
    if stream:
        with client.responses.stream(**kwargs) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**kwargs)
    calls = [
        (item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]
    return calls, response.output_text or None


def _messages(
    gateway: Gateway, api_key: str, model: str, prompt: str, choice: Any, stream: bool
) -> tuple[list[Any], str | None]:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)
    tools: Any = [{"name": name, "input_schema": SCHEMA} for name in NAMES]
    kwargs: Any = {"model": model, "max_tokens": 200, "tools": tools, "tool_choice": choice}
    kwargs["messages"] = [{"role": "user", "content": prompt}]
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    text = "".join(block.text for block in message.content if block.type == "text")
    return calls, text or None


CLIENTS = {"chat": _chat, "responses": _responses, "messages": _messages}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("intent", list(CHOICES))
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client", list(CLIENTS))
def test_tool_choice_reaches_every_upstream(
    gateway: Gateway,
    api_key: str,
    emulator: Emulator,
    client: str,
    provider: str,
    intent: str,
    stream: bool,
) -> None:
    prompt, expected = EXPECTED[intent]
    choice = CHOICES[intent][client]
    calls, text = CLIENTS[client](
        gateway, api_key, MODELS_BY_PROVIDER[provider], prompt, choice, stream
    )
    if expected is None:
        assert (calls, text) == ([], TEXT)
    else:
        assert calls == [expected]
    if intent == "named":
        sent = emulator.last()["body"]
        key = "toolConfig" if provider == "gemini" else "tool_choice"
        assert sent[key] == UPSTREAM_NAMED[provider]
