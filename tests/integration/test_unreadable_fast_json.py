"""Same-protocol (fast path) calls, not streamed, whose upstream answers 200 with a body
that is not JSON: empty, cut short, or a proxy's HTML page. The client gets the 502 the
translated path gives for an unreadable answer (not a 500 "internal error"), the page does
not reach it, and the call is recorded with that status. Official SDKs → a real gateway
→ an upstream that serves these exact bytes (tests/integration/unreadable_upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.unreadable_upstream import CHAT, MESSAGES, RESPONSES, Metered, serve

SCENARIOS = ["empty200", "badjson200", "html_200"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("unreadable-json"))


def _say(scenario: str) -> Any:
    return [{"role": "user", "content": f"hi SCEN:{scenario}"}]


def _check(served: Metered, key: tuple[str, str], error: Exception) -> None:
    assert getattr(error, "status_code", None) == 502
    assert "unreadable" in str(error) and "captive portal" not in str(error)
    assert served.recorded(key) == (0, 0, 502)
    assert "Traceback" not in served.log.read_text()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_chat(served: Metered, scenario: str) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with pytest.raises(openai.InternalServerError) as error:
        client.chat.completions.create(model=CHAT, messages=_say(scenario))
    _check(served, key, error.value)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_responses(served: Metered, scenario: str) -> None:
    key = served.new_key()
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with pytest.raises(openai.InternalServerError) as error:
        client.responses.create(model=RESPONSES, input=f"hi SCEN:{scenario}")
    _check(served, key, error.value)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_messages(served: Metered, scenario: str) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as error:
        client.messages.create(model=MESSAGES, max_tokens=100, messages=_say(scenario))
    _check(served, key, error.value)
