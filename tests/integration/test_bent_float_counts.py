"""Counts and indexes an upstream writes as integral floats (`"prompt_tokens": 11.0`, as
a server computing them as floats does; JSON does not tell 11.0 from 11) are read as the
ints they are, on every upstream type: a translated answer, streamed or not, reaches the
client with its usage (it was a 502, or an error at the stream's end), and the fast path
meters its tokens (it metered 0). Official SDKs → a real gateway → an upstream serving
these exact bytes (tests/integration/bent_upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.bent_upstream import CHAT, GEMINI, IN, MESSAGES, OUT, RESPONSES, serve
from tests.integration.exact_upstream import Metered

_SAY: Any = [{"role": "user", "content": "hi SCEN:floats"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("bent-floats"))


def _openai(served: Metered, key: tuple[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)


def _anthropic(served: Metered, key: tuple[str, str]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)


def _chat(served: Metered, key: tuple[str, str], model: str, stream: bool) -> tuple[str, Any]:
    """The text and usage a Chat client gets."""
    client = _openai(served, key)
    if not stream:
        answer = client.chat.completions.create(model=model, messages=_SAY)
        return answer.choices[0].message.content or "", answer.usage
    text, usage = "", None
    for chunk in client.chat.completions.create(
        model=model, messages=_SAY, stream=True, stream_options={"include_usage": True}
    ):
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
        usage = chunk.usage or usage
    return text, usage


def _messages(served: Metered, key: tuple[str, str], model: str, stream: bool) -> Any:
    client = _anthropic(served, key)
    if not stream:
        return client.messages.create(model=model, max_tokens=100, messages=_SAY)
    with client.messages.stream(model=model, max_tokens=100, messages=_SAY) as events:
        return events.get_final_message()


def _responses(served: Metered, key: tuple[str, str], model: str, stream: bool) -> Any:
    client = _openai(served, key)
    if not stream:
        return client.responses.create(model=model, input="hi SCEN:floats")
    with client.responses.stream(model=model, input="hi SCEN:floats") as events:
        return events.get_final_response()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("model", [RESPONSES, MESSAGES, GEMINI])
def test_a_chat_client_of_another_upstream(served: Metered, model: str, stream: bool) -> None:
    key = served.new_key()
    text, usage = _chat(served, key, model, stream)
    assert text == "Hello"
    assert (usage.prompt_tokens, usage.completion_tokens) == (IN, OUT)
    assert served.recorded(key) == (IN, OUT, 200)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_messages_client_of_a_chat_upstream(served: Metered, stream: bool) -> None:
    key = served.new_key()
    message = _messages(served, key, CHAT, stream)
    assert message.content[0].text == "Hello"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (IN, OUT)
    assert served.recorded(key) == (IN, OUT, 200)


_FAST = {CHAT: _chat, MESSAGES: _messages, RESPONSES: _responses}


# The SDK, given the relayed floats as they came, warns when it serializes them back.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("model", list(_FAST))
def test_the_fast_path_meters_the_tokens(served: Metered, model: str, stream: bool) -> None:
    key = served.new_key()
    _FAST[model](served, key, model, stream)
    assert served.recorded(key) == (IN, OUT, 200)
