"""Content blocks of types the gateway does not know (Anthropic's `search_result`, often
inside a `tool_result`; `container_upload`...) were a 400 "Invalid value 'search_result'"
even to a Claude model, whose fast path relays the client's bytes: the official SDK's
search-result tool loop never reached Anthropic. They are now relayed as sent on the fast
path, and a 400 naming the block on a translated one, which has no place for them."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

SEARCH_RESULT = {
    "type": "search_result",
    "source": "https://docs.example.com/a",
    "title": "A",
    "content": [{"type": "text", "text": "The answer is 42."}],
    "citations": {"enabled": True},
}
LOOP: Any = [
    {"role": "user", "content": "look it up"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [SEARCH_RESULT]}],
    },
]
TOOLS: Any = [{"name": "f", "input_schema": {"type": "object"}}]


def _client(gateway: Gateway, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)


def test_the_fast_path_relays_them_as_sent(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    model = MODELS_BY_PROVIDER["anthropic"]
    top_level = {"type": "search_result", **{k: SEARCH_RESULT[k] for k in ("source", "title")}}
    top_level["content"] = SEARCH_RESULT["content"]
    messages: Any = [*LOOP[:2], {**LOOP[2], "content": [*LOOP[2]["content"], top_level]}]
    message = _client(gateway, api_key).messages.create(
        model=model, max_tokens=100, tools=TOOLS, messages=messages
    )
    assert message.stop_reason == "end_turn"
    sent = emulator.last()["body"]["messages"][2]["content"]
    assert sent[0]["content"] == [SEARCH_RESULT] and sent[1] == top_level


@pytest.mark.parametrize("upstream", ["openai", "openai-responses", "gemini"])
def test_a_translated_request_is_refused_naming_the_block(
    gateway: Gateway, emulator: Emulator, api_key: str, upstream: str
) -> None:
    emulator.clear()
    with pytest.raises(anthropic.BadRequestError) as refused:
        _client(gateway, api_key).messages.create(
            model=MODELS_BY_PROVIDER[upstream], max_tokens=100, tools=TOOLS, messages=LOOP
        )
    error = refused.value.body["error"]  # type: ignore[index]
    assert "messages.2.content.0.content.0" in error["message"]
    assert "'search_result'" in error["message"]
    assert emulator.requests() == []


def test_a_block_that_is_no_block_is_still_refused(gateway: Gateway, api_key: str) -> None:
    """Only an unknown type is left to Anthropic; a known one that is malformed is the
    gateway's own 400, as before."""
    bad: Any = [{"role": "user", "content": [{"type": "text"}]}]
    with pytest.raises(anthropic.BadRequestError) as refused:
        _client(gateway, api_key).messages.create(
            model=MODELS_BY_PROVIDER["anthropic"], max_tokens=100, messages=bad
        )
    assert "messages.0.content.0" in refused.value.body["error"]["message"]  # type: ignore[index]
