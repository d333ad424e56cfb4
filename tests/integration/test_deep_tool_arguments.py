"""A tool call's `arguments` is JSON inside a JSON string, so the body's decoder never
looks into it: nested a hundred thousand levels deep, it must still be a 400 in the
client's protocol on every upstream type that reads it, never a RecursionError's 500."""

from __future__ import annotations

import openai
import pytest

from tests.integration.conftest import Gateway

DEEP = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-5"])
def test_deeply_nested_tool_call_arguments_are_a_400(client: openai.OpenAI, model: str) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": DEEP}}
    with pytest.raises(openai.BadRequestError, match="call_1"):
        client.chat.completions.create(
            model=model,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "done"},
            ],
        )
