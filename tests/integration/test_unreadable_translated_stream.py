"""Translated streams whose upstream answers a 200 that is no event stream: JSON from a
server that ignores `stream: true`, or a proxy's HTML page. Each client protocol gets a
502 in its own error shape before any byte (not a 200 stream ending at once in an error
frame that blames an early end), and the JSON answer's billed usage is recorded. Official
SDKs → a real gateway → an upstream serving these exact bytes
(tests/integration/unreadable_upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.integration.unreadable_upstream import (
    CHAT,
    GEMINI,
    HTML,
    MESSAGES,
    RESPONSES,
    Metered,
    serve,
)

SCENARIOS = ["nostream", "html_200"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("unreadable-translated"))


def _openai(served: Metered, key: tuple[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)


def _anthropic(served: Metered, key: tuple[str, str]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("model", [CHAT, RESPONSES, GEMINI])
def test_messages_client_gets_a_502(served: Metered, model: str, scenario: str) -> None:
    key = served.new_key()
    with pytest.raises(anthropic.InternalServerError) as error:
        with _anthropic(served, key).messages.stream(
            model=model, max_tokens=100, messages=[{"role": "user", "content": f"SCEN:{scenario}"}]
        ) as events:
            events.get_final_message()
    assert error.value.status_code == 502
    assert "not an event stream" in str(error.value)
    assert served.recorded(key)[2] == 502


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("model", [MESSAGES, RESPONSES, GEMINI])
def test_chat_client_gets_a_502(served: Metered, model: str, scenario: str) -> None:
    key = served.new_key()
    with pytest.raises(openai.InternalServerError) as error:
        for _ in _openai(served, key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"SCEN:{scenario}"}], stream=True
        ):
            pass
    assert error.value.status_code == 502
    assert "not an event stream" in str(error.value)
    assert HTML.decode() not in str(error.value)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("model", [CHAT, MESSAGES, GEMINI])
def test_responses_client_gets_a_502_before_any_event(
    served: Metered, model: str, scenario: str
) -> None:
    key = served.new_key()
    events: list[str] = []
    with pytest.raises(openai.InternalServerError) as error:
        for event in _openai(served, key).responses.create(
            model=model, input=f"SCEN:{scenario}", stream=True
        ):
            events.append(event.type)
    assert error.value.status_code == 502
    assert events == []  # not even response.created


@pytest.mark.parametrize("model", [CHAT, RESPONSES, GEMINI])
def test_the_json_answers_billed_usage_is_recorded(served: Metered, model: str) -> None:
    """The server that ignored `stream: true` did the work: its usage counts."""
    key = served.new_key()
    with pytest.raises(anthropic.InternalServerError):
        with _anthropic(served, key).messages.stream(
            model=model, max_tokens=100, messages=[{"role": "user", "content": "SCEN:nostream"}]
        ) as events:
            events.get_final_message()
    assert served.recorded(key) == (11, 7, 502)
