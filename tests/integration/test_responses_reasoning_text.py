"""A Responses server for an open model (gpt-oss on vLLM) gives the reasoning itself, as
`reasoning_text` content and `response.reasoning_text.delta` events, where OpenAI gives
only a summary: a Claude client's thinking block was empty, its text dropped without a
word. Official SDK → a real gateway → an upstream that serves these exact bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, json_answer, serving, stream_answer
from tests.integration.servers import STATIC_KEY

MODEL = "oss-responses"
THOUGHT = "The user greets me."
_USAGE = {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14}
_SHELL = {"id": "resp_x", "object": "response", "created_at": 1, "model": "gpt-oss-20b"}
_REASONING = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [],
    "content": [{"type": "reasoning_text", "text": THOUGHT}],
}
_MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hello.", "annotations": []}],
}
_DONE = {**_SHELL, "status": "completed", "output": [_REASONING, _MESSAGE], "usage": _USAGE}


def _event(number: int, kind: str, **members: Any) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": number, **members})
    return f"event: {kind}\ndata: {data}\n\n".encode()


_TEXT = {"item_id": "msg_1", "output_index": 1, "content_index": 0}
STREAM = b"".join(
    [
        _event(0, "response.created", response={**_SHELL, "status": "in_progress", "output": []}),
        _event(1, "response.output_item.added", output_index=0, item={**_REASONING, "content": []}),
        _event(
            2,
            "response.reasoning_text.delta",
            item_id="rs_1",
            output_index=0,
            content_index=0,
            delta="The user ",
        ),
        _event(
            3,
            "response.reasoning_text.delta",
            item_id="rs_1",
            output_index=0,
            content_index=0,
            delta="greets me.",
        ),
        _event(
            4,
            "response.reasoning_text.done",
            item_id="rs_1",
            output_index=0,
            content_index=0,
            text=THOUGHT,
        ),
        _event(5, "response.output_item.done", output_index=0, item=_REASONING),
        _event(6, "response.output_item.added", output_index=1, item={**_MESSAGE, "content": []}),
        _event(7, "response.content_part.added", part={"type": "output_text", "text": ""}, **_TEXT),
        _event(8, "response.output_text.delta", delta="Hello.", **_TEXT),
        _event(9, "response.output_text.done", text="Hello.", **_TEXT),
        _event(10, "response.content_part.done", part=_MESSAGE["content"][0], **_TEXT),
        _event(11, "response.output_item.done", output_index=1, item=_MESSAGE),
        _event(12, "response.completed", response=_DONE),
    ]
)


def _answer(path: str, body: bytes) -> Answer:
    return stream_answer(STREAM) if json.loads(body).get("stream") else json_answer(_DONE)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        _answer,
        tmp_path_factory.mktemp("reasoning-text"),
        {"oss": "openai-responses"},
        {MODEL: "provider: oss, model: gpt-oss-20b"},
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_reasoning_itself_is_the_thinking(gateway: Gateway, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    request: Any = {
        "model": MODEL,
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "hi"}],
    }
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    thinking = [block for block in message.content if block.type == "thinking"]
    assert [block.thinking for block in thinking] == [THOUGHT]  # type: ignore[union-attr]
    assert message.content[-1].text == "Hello."  # type: ignore[union-attr]
    assert message.usage.output_tokens == 9
