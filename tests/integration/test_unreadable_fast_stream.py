"""Same-protocol (fast path) streams whose upstream's last chunk is not a whole SSE frame
and comes with the end of its body: a partial event and then the end, or a 200 that is
no event stream at all (a server that ignores `stream: true`, bad JSON, a proxy's HTML
page). The client's SDK raises its API error (not a JSONDecodeError, not nothing), the
error frame starts on a frame boundary with no partial frame before it, and a 200 that is
not an event stream is a 502 before any byte. Official SDKs → a real gateway → an
upstream that serves these exact bytes (tests/integration/unreadable_upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.unreadable_upstream import (
    CHAT,
    CHAT_PARTIAL,
    HTML,
    MESSAGES,
    MESSAGES_PARTIAL,
    RESPONSES,
    RESPONSES_PARTIAL,
    Metered,
    serve,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("unreadable-stream"))


def _openai(served: Metered, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=secret, max_retries=0)


def _anthropic(served: Metered, secret: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url, api_key=secret, max_retries=0)


def _say(scenario: str) -> Any:
    return [{"role": "user", "content": f"hi SCEN:{scenario}"}]


def _raw(served: Metered, path: str, body: dict[str, Any]) -> httpx.Response:
    secret = served.new_key()[1]
    headers = {"authorization": f"Bearer {secret}", "x-api-key": secret}
    return httpx.post(served.url + path, json=body, headers=headers, timeout=10)


def _before_error(body: bytes, error_start: bytes) -> bytes:
    """The bytes before the (one) error frame, which must end a frame."""
    at = body.find(error_start)
    assert at > 0, body
    before = body[:at]
    assert before.endswith(b"\n\n"), body
    return before


def test_an_event_stream_labelled_otherwise_is_relayed(served: Metered) -> None:
    """Only JSON or a page stands for no stream: some compatible servers and proxies
    label their event streams text/plain."""
    key = served.new_key()
    chunks = _openai(served, key[1]).chat.completions.create(
        model=CHAT, messages=_say("sse_as_text"), stream=True
    )
    assert "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices) == "Hello"


def test_chat_cut_with_the_end_raises_the_api_error(served: Metered) -> None:
    key = served.new_key()
    chunks = _openai(served, key[1]).chat.completions.create(
        model=CHAT, messages=_say("cut_eof"), stream=True
    )
    text = []
    with pytest.raises(openai.APIError):
        for chunk in chunks:
            text += [c.delta.content or "" for c in chunk.choices]
    assert "".join(text) == "Hello"
    body = _raw(served, "/v1/chat/completions", {"model": CHAT, "stream": True,
                "messages": _say("cut_eof")}).content  # fmt: skip
    before = _before_error(body, b'data: {"error"')
    assert CHAT_PARTIAL not in body and before.count(b"data: ") == 1


def test_responses_cut_with_the_end_ends_in_an_error_event(served: Metered) -> None:
    key = served.new_key()
    events = list(
        _openai(served, key[1]).responses.create(
            model=RESPONSES, input="hi SCEN:cut_eof", stream=True
        )
    )
    assert events[-1].type in ("error", "response.failed")
    body = _raw(served, "/v1/responses", {"model": RESPONSES, "stream": True,
                "input": "hi SCEN:cut_eof"}).content  # fmt: skip
    _before_error(body, b"event: error" if b"event: error" in body else b"event: response.failed")
    assert RESPONSES_PARTIAL not in body


def test_messages_cut_with_the_end_raises_the_api_error(served: Metered) -> None:
    key = served.new_key()
    client = _anthropic(served, key[1])
    with pytest.raises(anthropic.APIError):
        with client.messages.stream(
            model=MESSAGES, max_tokens=100, messages=_say("cut_eof")
        ) as events:
            events.get_final_message()
    body = _raw(served, "/v1/messages", {"model": MESSAGES, "max_tokens": 100, "stream": True,
                "messages": _say("cut_eof")}).content  # fmt: skip
    _before_error(body, b"event: error")
    assert MESSAGES_PARTIAL not in body


@pytest.mark.parametrize("scenario", ["nostream", "badjson200", "html_200"])
def test_a_200_that_is_no_event_stream_is_a_502_before_any_byte(
    served: Metered, scenario: str
) -> None:
    client = _openai(served, served.new_key()[1])
    with pytest.raises(openai.InternalServerError) as chat_error:
        for _ in client.chat.completions.create(model=CHAT, messages=_say(scenario), stream=True):
            pass
    assert chat_error.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as responses_error:
        for _ in client.responses.create(model=RESPONSES, input=f"SCEN:{scenario}", stream=True):
            pass
    assert responses_error.value.status_code == 502
    messages = _anthropic(served, served.new_key()[1])
    with pytest.raises(anthropic.InternalServerError) as messages_error:
        with messages.messages.stream(
            model=MESSAGES, max_tokens=100, messages=_say(scenario)
        ) as events:
            events.get_final_message()
    assert messages_error.value.status_code == 502
    raw = _raw(served, "/v1/chat/completions", {"model": CHAT, "stream": True,
               "messages": _say(scenario)})  # fmt: skip
    assert raw.status_code == 502 and raw.headers["content-type"].startswith("application/json")
    assert HTML not in raw.content and b"oops" not in raw.content
