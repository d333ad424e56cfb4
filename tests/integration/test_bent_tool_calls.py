"""A Chat upstream whose streamed tool-call deltas have no `index` (Gemini's
OpenAI-compatible endpoint, older Ollama, mistral.rs, SGLang): the calls reach an
Anthropic or Responses client whole, with their exact names and arguments (the stream
failed with `Object missing required field index`), and the fast path, which relays the
bytes as they came, meters the usage (it metered 0 and a 502). Official SDKs → a real
gateway → an upstream serving these exact bytes (tests/integration/bent_upstream.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.bent_upstream import CALLS, CHAT, IN, OUT, TOOL_SCENARIOS, serve
from tests.integration.exact_upstream import Metered

_SCHEMA: Any = {"type": "object", "properties": {}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("bent-tools"))


def _expected(scenario: str) -> list[tuple[str, Any]]:
    """(name, arguments) of each call the scenario makes."""
    count = 1 if scenario == "tool_fragments" else 2
    return [(name, json.loads(arguments)) for name, arguments in CALLS[:count]]


@pytest.mark.parametrize("scenario", TOOL_SCENARIOS)
def test_a_messages_client_gets_the_calls(served: Metered, scenario: str) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with client.messages.stream(
        model=CHAT,
        max_tokens=100,
        tools=[{"name": name, "input_schema": _SCHEMA} for name, _ in CALLS],
        messages=[{"role": "user", "content": f"hi SCEN:{scenario}"}],
    ) as events:
        message = events.get_final_message()
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    assert calls == _expected(scenario)
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (IN, OUT)
    assert served.recorded(key) == (IN, OUT, 200)


@pytest.mark.parametrize("scenario", TOOL_SCENARIOS)
def test_a_responses_client_gets_the_calls(served: Metered, scenario: str) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with client.responses.stream(
        model=CHAT,
        input=f"hi SCEN:{scenario}",
        tools=[{"type": "function", "name": name, "parameters": _SCHEMA} for name, _ in CALLS],
    ) as events:
        response = events.get_final_response()
    assert response.status == "completed"
    calls = [
        (item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]
    assert calls == _expected(scenario)
    assert served.recorded(key) == (IN, OUT, 200)


@pytest.mark.parametrize("scenario", TOOL_SCENARIOS)
def test_the_fast_path_meters_the_usage(served: Metered, scenario: str) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model=CHAT,
            messages=[{"role": "user", "content": f"hi SCEN:{scenario}"}],
            tools=[{"type": "function", "function": {"name": name}} for name, _ in CALLS],
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert served.recorded(key) == (IN, OUT, 200)
