"""Whether a body asks for the async task mode is read from its top-level members only:
the same names deeper in the body (a tool's input, a schema's property, a description)
ask for nothing."""

from __future__ import annotations

import json

import pytest

from polyrelay import codec
from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.tasks.asking import asks_async

MESSAGES = AnthropicMessagesFrontend("m")
CHAT = OpenAIChatFrontend()
RESPONSES = OpenAIResponsesFrontend()
NESTED = {
    "tools": [{"name": "t", "input_schema": {"properties": {"async": {"type": "boolean"}}}}],
    "messages": [{"role": "user", "content": [{"type": "tool_use", "input": {"async": True}}]}],
    "metadata": {"background": True, "callback_url": "http://x"},
    "input": [{"role": "user", "content": 'say "background": true'}],
}


def asks(frontend: object, document: object) -> bool:
    top = codec.top_level(json.dumps(document).encode())
    return asks_async(frontend, top)  # type: ignore[arg-type]


@pytest.mark.parametrize("frontend", [MESSAGES, CHAT])
def test_async_true_at_the_top_asks(frontend: object) -> None:
    assert asks(frontend, {"model": "m", "async": True})
    assert not asks(frontend, {"model": "m", "async": False})
    assert not asks(frontend, {"model": "m", "background": True})  # a Responses field
    assert not asks(frontend, {"model": "m", **NESTED})


def test_background_true_at_the_top_asks_on_responses() -> None:
    assert asks(RESPONSES, {"model": "m", "background": True})
    assert not asks(RESPONSES, {"model": "m", "async": True})
    assert not asks(RESPONSES, {"model": "m", **NESTED})


@pytest.mark.parametrize("field", ["callback_url", "webhook_url"])
def test_a_callback_url_at_the_top_asks(field: str) -> None:
    assert asks(CHAT, {"model": "m", field: "https://example.test/done"})


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'"async"', b"null"])
def test_a_body_that_is_no_object_asks_for_nothing(body: bytes) -> None:
    assert codec.top_level(body) is None
    assert not asks_async(CHAT, None)
