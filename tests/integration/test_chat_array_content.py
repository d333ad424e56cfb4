"""A Chat upstream whose `content` is an array of parts, as Mistral's reasoning models
(magistral) answer and stream it: `[{"type": "thinking", "thinking": [{"type": "text",
"text": ...}]}, {"type": "text", "text": ...}]`. The gateway's schema took only a str:
every translated client (Anthropic Messages, Responses) got a 502 'upstream sent an
invalid chat.completion: Expected `str | null`, got `array`', streamed or not. Now text
parts are the text, thinking parts the reasoning, and another part (Mistral's `reference`)
is dropped, warned; a Chat client's answer is relayed as it came and still metered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.exact_upstream import (
    Answer,
    Metered,
    json_answer,
    metered,
    sse,
    stream_answer,
)

MODEL = "magistral"
THINKING = {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}
REFERENCE = {"type": "reference", "reference_ids": [1]}
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "magistral-medium",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": [THINKING, REFERENCE, {"type": "text", "text": "hi"}],
            },
            "finish_reason": "stop",
        }
    ],
    "usage": USAGE,
}


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return sse({**head, "choices": choices, **extra})


STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]}]}),
        _chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "m"}]}]}),
        _chunk({"content": [REFERENCE, {"type": "text", "text": "h"}]}),
        _chunk({"content": "i"}),  # Mistral's later text chunks are plain strings
        _chunk({}, "stop"),
        _chunk(None, usage=USAGE),
        b"data: [DONE]\n\n",
    ]
)


VLLM_MODEL = "vllm-reasoning"
"""vLLM's newer field name, `reasoning` (for `reasoning_content`), beside `content: ""`:
already read (a check that it stays so, streamed or not)."""
VLLM_ANSWER = {
    **ANSWER,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "", "reasoning": "hmm"},
            "finish_reason": "stop",
        }
    ],
}
VLLM_STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning": "hm"}),
        _chunk({"reasoning": "m"}),
        _chunk({}, "stop"),
        _chunk(None, usage=USAGE),
        b"data: [DONE]\n\n",
    ]
)


RECEIVED: list[dict[str, Any]] = []
"""The requests the upstream got, in order."""


def _answering(path: str, body: bytes) -> Answer:
    request = json.loads(body)
    RECEIVED.append(request)
    vllm = request["model"] == VLLM_MODEL
    if request.get("stream"):
        return stream_answer(VLLM_STREAM if vllm else STREAM)
    return json_answer(VLLM_ANSWER if vllm else ANSWER)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    workdir: Path = tmp_path_factory.mktemp("array-content")
    models = {MODEL: "provider: up, model: m", VLLM_MODEL: f"provider: up, model: {VLLM_MODEL}"}
    yield from metered(_answering, workdir, {"up": "openai"}, models)


def _anthropic(secret: str, gateway: Metered) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)


def _openai(secret: str, gateway: Metered) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=secret, max_retries=0)


HI: Any = [{"role": "user", "content": "hi"}]


def test_messages_reads_thinking_and_text_parts(gateway: Metered) -> None:
    key = gateway.new_key()
    client = _anthropic(key[1], gateway)
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=HI)
    message = raw.parse()
    assert [
        (b.type, getattr(b, "thinking", getattr(b, "text", None))) for b in message.content
    ] == [
        ("thinking", "hmm"),
        ("text", "hi"),
    ]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    assert "'reference' was dropped" in raw.headers["polyrelay-warnings"]
    assert gateway.recorded(key) == (11, 7, 200)


def test_messages_streamed_reads_thinking_and_text_parts(gateway: Metered) -> None:
    key = gateway.new_key()
    client = _anthropic(key[1], gateway)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HI) as stream:
        message = stream.get_final_message()
    assert [
        (b.type, getattr(b, "thinking", getattr(b, "text", None))) for b in message.content
    ] == [
        ("thinking", "hmm"),
        ("text", "hi"),
    ]
    assert message.usage.output_tokens == 7
    assert gateway.recorded(key) == (11, 7, 200)


def _reasoning_text(output: list[Any]) -> str:
    return "".join(
        part.text for item in output if item.type == "reasoning" for part in item.summary
    )


@pytest.mark.parametrize("stream", [False, True])
def test_responses_reads_thinking_and_text_parts(gateway: Metered, stream: bool) -> None:
    key = gateway.new_key()
    client = _openai(key[1], gateway)
    if stream:
        with client.responses.stream(model=MODEL, input="hi") as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(model=MODEL, input="hi")
    assert response.output_text == "hi"
    assert _reasoning_text(response.output) == "hmm"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert gateway.recorded(key) == (11, 7, 200)


def test_chat_client_streamed_is_relayed_and_metered(gateway: Metered) -> None:
    """The same protocol's fast path relays the chunks as they came; its usage is read by
    the stream parser, which refused the array content (the row lost its usage)."""
    key = gateway.new_key()
    client = _openai(key[1], gateway)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    contents = [c.choices[0].delta.content for c in chunks if c.choices]
    assert contents[1][0]["type"] == "thinking" and contents[4] == "i"  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert gateway.recorded(key) == (11, 7, 200)


def test_chat_client_not_streamed_is_relayed_and_metered(gateway: Metered) -> None:
    key = gateway.new_key()
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key[1]}"},
        json={"model": MODEL, "messages": HI},
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"][0] == THINKING
    assert gateway.recorded(key) == (11, 7, 200)


@pytest.mark.parametrize("stream", [False, True])
def test_vllm_reasoning_field_is_read(gateway: Metered, stream: bool) -> None:
    client = _anthropic(gateway.new_key()[1], gateway)
    if stream:
        with client.messages.stream(model=VLLM_MODEL, max_tokens=100, messages=HI) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(model=VLLM_MODEL, max_tokens=100, messages=HI)
    assert [(b.type, getattr(b, "thinking", None)) for b in message.content] == [
        ("thinking", "hmm")
    ]
    assert message.usage.output_tokens == 7


def test_chat_client_sends_the_thinking_parts_back(gateway: Metered) -> None:
    """The next turn: the openai SDK's message, array content and all, goes back as the
    history. The request schema refused its `thinking` part (400 'invalid value'); the fast
    path now relays it to the Mistral upstream as the client wrote it."""
    client = _openai(gateway.new_key()[1], gateway)
    first = client.chat.completions.create(model=MODEL, messages=HI)
    answer = first.choices[0].message.model_dump(exclude_none=True)
    again: Any = [*HI, answer, {"role": "user", "content": "and?"}]
    second = client.chat.completions.create(model=MODEL, messages=again)
    assert second.choices[0].finish_reason == "stop"
    assert RECEIVED[-1]["messages"][1]["content"] == [
        THINKING,
        REFERENCE,
        {"type": "text", "text": "hi"},
    ]
