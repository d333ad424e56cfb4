"""An upstream that streams an emoji as the two UTF-16 halves of its surrogate pair, each
a lone `\\u` escape in its own delta (`"Hi \\ud83d"`, then `"\\ude00 …"`): a translated
stream gives the client the emoji whole, and a half that never pairs as U+FFFD, on every
upstream type (the stream failed with `upstream sent an invalid chunk: Input data was
truncated`: msgspec refuses a lone surrogate). Official SDKs → a real gateway → an
upstream serving these exact bytes (tests/integration/bent_upstream.py).

Not streamed, the same text comes whole in the answer's JSON (`"Hi \\ud83d\\ude00 x\\ude01y
\\ud83d"`): the client gets the same text, translated or on the fast path, and its usage
is metered (the gateway answered 502: `upstream sent an invalid chat.completion`, and
on the fast path `unreadable upstream response: not a JSON object`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.bent_upstream import (
    CHAT,
    GEMINI,
    IN,
    MESSAGES,
    OUT,
    RESPONSES,
    SURROGATE_TEXT,
    serve,
)
from tests.integration.exact_upstream import Metered

_SAY: Any = [{"role": "user", "content": "hi SCEN:surrogates"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("bent-surrogates"))


def _openai(served: Metered, key: tuple[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)


def _chat_text(served: Metered, key: tuple[str, str], model: str) -> str:
    stream = _openai(served, key).chat.completions.create(model=model, messages=_SAY, stream=True)
    return "".join(choice.delta.content or "" for chunk in stream for choice in chunk.choices)


@pytest.mark.parametrize("model", [RESPONSES, MESSAGES, GEMINI])
def test_a_chat_client_of_another_upstream_gets_the_emoji(served: Metered, model: str) -> None:
    key = served.new_key()
    assert _chat_text(served, key, model) == SURROGATE_TEXT
    assert served.recorded(key) == (IN, OUT, 200)


def test_a_messages_client_of_a_chat_upstream_gets_the_emoji(served: Metered) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with client.messages.stream(model=CHAT, max_tokens=100, messages=_SAY) as events:
        message = events.get_final_message()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == SURROGATE_TEXT  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert served.recorded(key) == (IN, OUT, 200)


def test_a_responses_client_of_a_chat_upstream_gets_the_emoji(served: Metered) -> None:
    key = served.new_key()
    client = _openai(served, key)
    with client.responses.stream(model=CHAT, input="hi SCEN:surrogates") as events:
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        response = events.get_final_response()
    assert response.status == "completed"
    assert deltas == response.output_text == SURROGATE_TEXT
    assert served.recorded(key) == (IN, OUT, 200)


@pytest.mark.parametrize("model", [CHAT])
def test_the_fast_path_relays_the_halves_and_meters(served: Metered, model: str) -> None:
    key = served.new_key()
    text = _chat_text(served, key, model)
    assert text == "Hi \ud83d\ude00 x\ude01y \ud83d"  # the upstream's own escapes, as they came
    assert served.recorded(key) == (IN, OUT, 200)


# --- not streamed ----------------------------------------------------------------------


def _chat_whole(served: Metered, key: tuple[str, str], model: str) -> str | None:
    completion = _openai(served, key).chat.completions.create(model=model, messages=_SAY)
    return completion.choices[0].message.content


@pytest.mark.parametrize("model", [CHAT, RESPONSES, MESSAGES, GEMINI])
def test_a_whole_chat_answer_holds_the_emoji(served: Metered, model: str) -> None:
    key = served.new_key()
    assert _chat_whole(served, key, model) == SURROGATE_TEXT
    assert served.recorded(key) == (IN, OUT, 200)


@pytest.mark.parametrize("model", [CHAT, MESSAGES])
def test_a_whole_message_holds_the_emoji(served: Metered, model: str) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    message = client.messages.create(model=model, max_tokens=100, messages=_SAY)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == SURROGATE_TEXT  # type: ignore[union-attr]
    assert served.recorded(key) == (IN, OUT, 200)


@pytest.mark.parametrize("model", [CHAT, RESPONSES])
def test_a_whole_response_holds_the_emoji(served: Metered, model: str) -> None:
    key = served.new_key()
    response = _openai(served, key).responses.create(model=model, input="hi SCEN:surrogates")
    assert response.status == "completed"
    assert response.output_text == SURROGATE_TEXT
    assert served.recorded(key) == (IN, OUT, 200)
