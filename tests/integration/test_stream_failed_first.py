"""An upstream stream that fails in its first event (HTTP 200, then an in-band error before
any content: Gemini's `{"error": {"code": 429}}` chunk, Anthropic's `overloaded_error`
event before or right after message_start, a Chat server's `{"error": ...}` chunk, a
Responses `error` event) is the client's HTTP error, in its own protocol, when the stream
is translated: the official SDKs retry a 429 or 529 status, never an in-band error. A
failure after content was sent still ends the stream with the in-band error (here, on the
same-protocol fast path too). On that fast path a first-event failure is relayed as the
provider sent it: 200, then its in-band error. Official SDKs → a
real gateway → an upstream serving these exact bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.exact_upstream import (
    PAUSE,
    Answer,
    Metered,
    metered_four,
    sse,
    stream_answer,
)

BUSY = "the upstream is busy, retry later"

_CHAT_TEXT = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "up",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}],
}
_MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 11, "output_tokens": 1},
    },
}
_TEXT_BLOCK = {"type": "text", "text": ""}
_MESSAGES_TEXT = [
    sse({"type": "content_block_start", "index": 0, "content_block": _TEXT_BLOCK},
        "content_block_start"),
    sse({"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Hel"}}, "content_block_delta"),
]  # fmt: skip
_OVERLOADED = sse(
    {"type": "error", "error": {"type": "overloaded_error", "message": BUSY}}, "error"
)
_RESPONSES_CREATED = {
    "type": "response.created",
    "sequence_number": 0,
    "response": {"id": "resp_1", "object": "response", "status": "in_progress", "model": "up",
                 "output": [], "created_at": 1},
}  # fmt: skip
_RESPONSES_TEXT = {
    "type": "response.output_text.delta",
    "sequence_number": 1,
    "item_id": "m1",
    "output_index": 0,
    "content_index": 0,
    "delta": "Hel",
}
_GEMINI_TEXT = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}


def _chat(late: bytes) -> bytes:
    error = {"error": {"message": BUSY, "type": "rate_limit_error", "code": 429}}
    return (sse(_CHAT_TEXT) + late if late else b"") + sse(error)


def _responses(late: bytes) -> bytes:
    error = {"type": "error", "code": "rate_limit_exceeded", "message": BUSY, "param": None}
    text = sse(_RESPONSES_TEXT, "response.output_text.delta") + late if late else b""
    return sse(_RESPONSES_CREATED, "response.created") + text + sse(error, "error")


def _messages(late: bytes, scenario: str) -> bytes:
    if scenario == "before_start":  # the error in place of message_start
        return _OVERLOADED
    start = sse(_MESSAGE_START, "message_start")
    return start + (b"".join(_MESSAGES_TEXT) + late if late else b"") + _OVERLOADED


def _gemini(late: bytes) -> bytes:
    error = {"error": {"code": 429, "message": BUSY, "status": "RESOURCE_EXHAUSTED"}}
    return (sse(_GEMINI_TEXT) + late if late else b"") + sse(error)


def _answering(path: str, body: bytes) -> Answer:
    found = re.search(rb"SCEN:(\w+)", body)
    assert found is not None
    scenario = found.group(1).decode()
    # After content: in a later read (PAUSE), or in the same one as the error. Either
    # way the client must get the content, so the error stays in-band.
    late = {"late": PAUSE, "late_one_read": b"\n"}.get(scenario, b"")
    if path.endswith("/chat/completions"):
        return stream_answer(_chat(late))
    if path.endswith("/responses"):
        return stream_answer(_responses(late))
    if path.endswith("/messages"):
        return stream_answer(_messages(late, scenario))
    return stream_answer(_gemini(late))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from metered_four(_answering, tmp_path_factory.mktemp("failed-first"), "ff")


_MODEL_STATUS = {"ff-chat": 429, "ff-responses": 429, "ff-messages": 529, "ff-gemini": 429}
"""Each upstream's first-event failure, and the status it is before a stream."""

# Each model served translated for each client protocol (the same protocol is relayed).
_CHAT_CLIENT = ["ff-responses", "ff-messages", "ff-gemini"]
_RESPONSES_CLIENT = ["ff-chat", "ff-messages", "ff-gemini"]
_MESSAGES_CLIENT = ["ff-chat", "ff-responses", "ff-gemini"]


def _say(scenario: str) -> Any:
    return [{"role": "user", "content": f"hi SCEN:{scenario}"}]


def _openai(key: str, served: Metered) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)


def _expect(served: Metered, key: tuple[str, str], caught: Any, model: str) -> None:
    """The status the client would get before a stream (OpenAI has no 529: 503), and the
    upstream's in the usage row."""
    status = _MODEL_STATUS[model]
    openai_client = isinstance(caught, openai.APIStatusError)
    assert caught.status_code == (503 if openai_client and status == 529 else status)
    assert BUSY in str(caught.body)
    assert served.recorded(key)[2] == status


@pytest.mark.parametrize("model", _CHAT_CLIENT)
def test_a_chat_stream_failed_first_is_its_http_error(served: Metered, model: str) -> None:
    key = served.new_key()
    with pytest.raises(openai.APIStatusError) as caught:
        list(_openai(key[1], served).chat.completions.create(
            model=model, messages=_say("first"), stream=True
        ))  # fmt: skip
    _expect(served, key, caught.value, model)


@pytest.mark.parametrize("model", _RESPONSES_CLIENT)
def test_a_responses_stream_failed_first_is_its_http_error(served: Metered, model: str) -> None:
    key = served.new_key()
    with pytest.raises(openai.APIStatusError) as caught:
        list(_openai(key[1], served).responses.create(
            model=model, input=_say("first"), stream=True
        ))  # fmt: skip
    _expect(served, key, caught.value, model)


@pytest.mark.parametrize("model", _MESSAGES_CLIENT)
def test_a_messages_stream_failed_first_is_its_http_error(served: Metered, model: str) -> None:
    key = served.new_key()
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(model=model, max_tokens=100, messages=_say("first")) as s:
            list(s)
    _expect(served, key, caught.value, model)


@pytest.mark.parametrize("scenario", ["first", "before_start"])
def test_anthropic_overloaded_before_content_is_an_http_error(
    served: Metered, scenario: str
) -> None:
    """Right after message_start or in its place, to a Chat and a Responses client."""
    key = served.new_key()
    with pytest.raises(openai.InternalServerError) as chat:
        list(_openai(key[1], served).chat.completions.create(
            model="ff-messages", messages=_say(scenario), stream=True
        ))  # fmt: skip
    _expect(served, key, chat.value, "ff-messages")
    key = served.new_key()
    with pytest.raises(openai.InternalServerError) as responses:
        list(_openai(key[1], served).responses.create(
            model="ff-messages", input=_say(scenario), stream=True
        ))  # fmt: skip
    _expect(served, key, responses.value, "ff-messages")


def test_the_sdk_sees_a_rate_limit(served: Metered) -> None:
    key = served.new_key()
    with pytest.raises(openai.RateLimitError):
        list(_openai(key[1], served).chat.completions.create(
            model="ff-gemini", messages=_say("first"), stream=True
        ))  # fmt: skip
    client = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with pytest.raises(anthropic.RateLimitError):
        with client.messages.stream(model="ff-gemini", max_tokens=9, messages=_say("first")) as s:
            list(s)


@pytest.mark.parametrize("scenario", ["late", "late_one_read"])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions", "/v1/responses"])
@pytest.mark.parametrize("model", list(_MODEL_STATUS))
def test_a_stream_that_fails_after_content_ends_in_band(
    served: Metered, model: str, path: str, scenario: str
) -> None:
    key = served.new_key()
    body: dict[str, Any] = {"model": model, "stream": True, "max_tokens": 50}
    say = _say(scenario)
    body |= {"input": say} if path == "/v1/responses" else {"messages": say}
    headers = {"authorization": f"Bearer {key[1]}", "anthropic-version": "2023-06-01"}
    response = httpx.post(served.url + path, json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert "Hel" in response.text
    assert BUSY in response.text
    assert served.recorded(key)[2] == _MODEL_STATUS[model]


@pytest.mark.parametrize(
    ("path", "model"),
    [("/v1/messages", "ff-messages"), ("/v1/chat/completions", "ff-chat"),
     ("/v1/responses", "ff-responses")],
)  # fmt: skip
def test_the_fast_path_relays_a_first_event_failure_as_sent(
    served: Metered, path: str, model: str
) -> None:
    """Same protocol in and out: the client gets what the provider itself would send."""
    key = served.new_key()
    body: dict[str, Any] = {"model": model, "stream": True, "max_tokens": 50}
    body |= {"input": _say("first")} if path == "/v1/responses" else {"messages": _say("first")}
    headers = {"authorization": f"Bearer {key[1]}", "anthropic-version": "2023-06-01"}
    response = httpx.post(served.url + path, json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert BUSY in response.text


def test_the_refusal_is_a_json_error(served: Metered) -> None:
    """The error body is JSON, as before a stream, not an SSE frame."""
    key = served.new_key()
    body = {"model": "ff-gemini", "stream": True, "messages": _say("first")}
    headers = {"authorization": f"Bearer {key[1]}"}
    response = httpx.post(served.url + "/v1/chat/completions", json=body, headers=headers)
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.text)["error"]["message"] == BUSY


def test_the_request_log_says_the_status_the_client_got(served: Metered) -> None:
    """Not the 200 a stream's response had before its first event failed: the 503 an
    OpenAI client gets for Anthropic's overloaded_error (whose usage row says 529)."""
    seen = len(served.log.read_text())
    key = served.new_key()
    with pytest.raises(openai.InternalServerError):
        list(_openai(key[1], served).chat.completions.create(
            model="ff-messages", messages=_say("first"), stream=True
        ))  # fmt: skip
    assert served.recorded(key)[2] == 529
    logged = [
        line
        for line in served.log.read_text()[seen:].splitlines()
        if "POST /v1/chat/completions model=ff-messages" in line
    ]
    assert len(logged) == 1 and " status=503 " in logged[0], logged
