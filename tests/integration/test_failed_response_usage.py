"""A Responses upstream that streams some text and then fails (`response.failed`, with
the usage it consumed): the gateway records that usage whatever the client's protocol,
and a Responses client sees it in its own `response.failed`. Official SDKs → a real
gateway → an upstream that serves these exact bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.exact_upstream import Answer, Metered, json_answer, metered, stream_answer

MODEL = "failing-responses"
USAGE = {
    "input_tokens": 111,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 22,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 133,
}
_SHELL = {"id": "resp_x", "object": "response", "created_at": 1, "model": "gpt-5", "output": []}
_FAILED = {
    **_SHELL,
    "status": "failed",
    "error": {"code": "server_error", "message": "The model failed mid-answer."},
    "usage": USAGE,
}


def _event(number: int, kind: str, **members: Any) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": number, **members})
    return f"event: {kind}\ndata: {data}\n\n".encode()


_MESSAGE = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant"}
_AT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
_PART = {"type": "output_text", "text": "", "annotations": []}
STREAM = b"".join(
    [
        _event(0, "response.created", response={**_SHELL, "status": "in_progress"}),
        _event(1, "response.in_progress", response={**_SHELL, "status": "in_progress"}),
        _event(2, "response.output_item.added", output_index=0, item={**_MESSAGE, "content": []}),
        _event(3, "response.content_part.added", **_AT, part=_PART),
        _event(4, "response.output_text.delta", **_AT, delta="partial", logprobs=[]),
        _event(5, "response.output_text.delta", **_AT, delta=" answer", logprobs=[]),
        _event(6, "response.failed", response=_FAILED),
    ]
)


def failing_answer(path: str, body: bytes) -> Answer:
    """The failing stream for a streamed call; the failed response as JSON otherwise."""
    return stream_answer(STREAM) if json.loads(body).get("stream") else json_answer(_FAILED)


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from metered(
        failing_answer,
        tmp_path_factory.mktemp("failed-usage"),
        {"failing": "openai-responses"},
        {MODEL: "provider: failing, model: gpt-5"},
    )


def _openai(failing: Metered, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=failing.url + "/v1", api_key=secret, max_retries=0)


def test_responses_stream_relayed(failing: Metered) -> None:
    key = failing.new_key()
    secret = key[1]
    events = list(_openai(failing, secret).responses.create(model=MODEL, input="hi", stream=True))
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.usage is not None
    assert (last.response.usage.input_tokens, last.response.usage.output_tokens) == (111, 22)
    assert failing.recorded(key)[:2] == (111, 22)


def test_responses_json_relayed(failing: Metered) -> None:
    key = failing.new_key()
    secret = key[1]
    result = _openai(failing, secret).responses.create(model=MODEL, input="hi")
    assert result.status == "failed" and result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (111, 22)
    assert failing.recorded(key)[:2] == (111, 22)


def test_chat_stream_translated(failing: Metered) -> None:
    key = failing.new_key()
    secret = key[1]
    messages: Any = [{"role": "user", "content": "hi"}]
    chunks = _openai(failing, secret).chat.completions.create(
        model=MODEL, messages=messages, stream=True
    )
    text = []
    with pytest.raises(openai.APIError, match="failed mid-answer"):
        for chunk in chunks:
            text += [c.delta.content or "" for c in chunk.choices]
    assert "".join(text) == "partial answer"
    assert failing.recorded(key)[:2] == (111, 22)


def test_messages_stream_translated(failing: Metered) -> None:
    key = failing.new_key()
    secret = key[1]
    client = anthropic.Anthropic(base_url=failing.url, api_key=secret, max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.APIError, match="failed mid-answer"):
        with client.messages.stream(model=MODEL, max_tokens=100, messages=messages) as events:
            events.get_final_message()
    assert failing.recorded(key)[:2] == (111, 22)
