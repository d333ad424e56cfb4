"""A user message of which a translation leaves nothing (parts the upstream type does not
take, dropped with a warning; text the upstream refuses: Anthropic's blank, Gemini's
empty) is the client's 400 in its own protocol, naming the message as the client sent
it, and nothing goes upstream: every upstream refuses an empty message, and leaving it
out would make the assistant's turn before it a prefill. Beside another user message it
is left out, warned: the user's turn is the same. Official SDKs → a real gateway → the
emulator, which refuses empty content as the providers do."""

from __future__ import annotations

import uuid
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway


def _openai(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def _sent(emulator: Emulator, marker: str) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if marker in str(r["body"])]


@pytest.mark.parametrize("text", [" ", ""])
def test_a_chat_user_message_anthropic_would_get_empty_is_a_400(
    gateway: Gateway, emulator: Emulator, api_key: str, text: str
) -> None:
    """Anthropic refuses blank text, which goes: the last user turn had nothing left, and
    was left out, so Claude was asked to continue the assistant's "hello"."""
    marker = uuid.uuid4().hex
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": f"hi {marker}"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": text},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        _openai(gateway, api_key).chat.completions.create(
            model="claude-sonnet-4-5", messages=messages
        )
    error = caught.value
    assert error.param == "messages[3]"  # the client's index, its system message counted
    assert error.type == "invalid_request_error"
    assert "user message" in error.message and "whitespace" in error.message
    assert _sent(emulator, marker) == []


def test_a_messages_user_turn_an_openai_upstream_takes_nothing_of_is_a_400(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """A user turn of only a thinking block: Chat Completions has no place for it (dropped,
    warned), and the turn went as `content: []`, which OpenAI refuses."""
    marker = uuid.uuid4().hex
    client = anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)
    messages: Any = [
        {"role": "user", "content": f"hi {marker}"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="gpt-4o-mini", max_tokens=50, messages=messages)
    error = caught.value
    body: Any = error.body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("messages[2]: ")
    assert "reasoning" in body["error"]["message"]
    assert "dropped" in error.response.headers["polyrelay-warnings"]
    assert _sent(emulator, marker) == []


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-5", "gpt-4o-mini"])
def test_a_responses_input_message_with_no_content_is_a_400(
    gateway: Gateway, emulator: Emulator, api_key: str, model: str
) -> None:
    marker = uuid.uuid4().hex
    items: Any = [
        {"role": "user", "content": f"hi {marker}"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": []},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        _openai(gateway, api_key).responses.create(model=model, input=items, store=False)
    assert caught.value.param == "input[2]"
    assert _sent(emulator, marker) == []


def test_an_empty_user_message_beside_another_is_left_out_warned(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    marker = uuid.uuid4().hex
    messages: Any = [{"role": "user", "content": ""}, {"role": "user", "content": marker}]
    raw = _openai(gateway, api_key).chat.completions.with_raw_response.create(
        model="claude-sonnet-4-5", messages=messages
    )
    assert raw.parse().choices[0].message.content == f"You said: {marker}"
    assert "messages[0] was left out" in raw.headers["polyrelay-warnings"]
    [sent] = _sent(emulator, marker)
    assert sent["body"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": marker}]}
    ]
