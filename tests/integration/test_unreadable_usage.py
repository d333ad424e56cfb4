"""The usage row of a call that ended in an error although its upstream answered 200: a
stream cut off (fast path and translated), a 200 that is no event stream, a Responses
answer with `status: "failed"`, a Gemini answer with no output. The row has the status of
the error the client got, as the same error before any byte would, and the tokens the
upstream reported. Official SDKs → a real gateway → an upstream that serves these exact
bytes (tests/integration/unreadable_upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.unreadable_upstream import (
    CHAT,
    GEMINI,
    MESSAGES,
    RESPONSES,
    Metered,
    serve,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("unreadable-usage"))


def _say(scenario: str) -> Any:
    return [{"role": "user", "content": f"hi SCEN:{scenario}"}]


def _chat_stream(served: Metered, key: tuple[str, str], model: str, scenario: str) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model=model, messages=_say(scenario), stream=True):
            pass


@pytest.mark.parametrize(
    ("model", "recorded"),
    [
        (CHAT, (0, 0, 502)),  # fast path: the usage chunk never came
        (MESSAGES, (11, 1, 502)),  # translated: message_start had reported the prompt
    ],
)
def test_a_chat_stream_cut_off(served: Metered, model: str, recorded: tuple[int, ...]) -> None:
    key = served.new_key()
    _chat_stream(served, key, model, "cut_eof")
    assert served.recorded(key) == recorded


def test_a_messages_stream_cut_off(served: Metered) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with pytest.raises(anthropic.APIError):
        with client.messages.stream(
            model=MESSAGES, max_tokens=100, messages=_say("cut_eof")
        ) as events:
            events.get_final_message()
    assert served.recorded(key) == (11, 1, 502)


def test_a_responses_stream_cut_off(served: Metered) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    events = list(client.responses.create(model=RESPONSES, input="SCEN:cut_eof", stream=True))
    assert events[-1].type in ("error", "response.failed")
    assert served.recorded(key)[2] == 502


def test_a_json_answer_to_a_stream_keeps_its_usage(served: Metered) -> None:
    key = served.new_key()
    _chat_stream(served, key, CHAT, "nostream")
    assert served.recorded(key) == (11, 7, 502)


def test_a_failed_responses_answer_keeps_its_usage(served: Metered) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with pytest.raises(openai.RateLimitError, match="mid-answer"):
        client.chat.completions.create(model=RESPONSES, messages=_say("failed"))
    assert served.recorded(key) == (11, 7, 429)


def test_a_gemini_answer_without_output_keeps_its_usage(served: Metered) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with pytest.raises(openai.InternalServerError, match="OTHER"):
        client.chat.completions.create(model=GEMINI, messages=_say("other"))
    assert served.recorded(key) == (11, 0, 502)
