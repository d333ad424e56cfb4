"""Chat upstreams whose streams bend the Chat Completions stream, through a real gateway
to the Anthropic SDK (an upstream serving these exact bytes):

- `finish_reason: ""` on every chunk but the last, as SGLang 0.4 and older Ollama did (and
  some hosted OpenAI-compatible APIs still do): the gateway took "" for a finish, so each
  chunk's text became a content block of its own and a tool call streamed over several
  chunks was cut at its first, its rest a second call with another id.
- Ollama (0.20) gives every tool call of a turn `index: 0`, each whole with its own id: the
  gateway appended the second call's arguments to the first's, `{...}{...}`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, serving, sse, stream_answer
from tests.integration.servers import STATIC_KEY

MODEL = "empty-finish"


def _chunk(delta: dict[str, Any], finish: str | None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [choice],
        }
    )


def _call(fragment: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"index": 0, **fragment}]}


STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": "Let me "}, ""),
        _chunk({"content": "look."}, ""),
        _chunk(
            _call(
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"ci'},
                }
            ),
            "",
        ),
        _chunk(_call({"function": {"arguments": 'ty": "Oslo"}'}}), ""),
        _chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
)


OLLAMA_MODEL = "reused-index"


def _whole_call(call_id: str, city: str) -> bytes:
    """One of Ollama's calls: whole, in one chunk, at index 0 whatever its place."""
    function = {"name": "get_weather", "arguments": json.dumps({"city": city})}
    return _chunk(_call({"id": call_id, "function": function}), None)


OLLAMA_STREAM = b"".join(
    [
        _whole_call("call_a", "Oslo"),
        _whole_call("call_b", "Rome"),
        _chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
)


def _answering(path: str, body: bytes) -> Answer:
    return stream_answer(OLLAMA_STREAM if OLLAMA_MODEL.encode() in body else STREAM)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir: Path = tmp_path_factory.mktemp("empty-finish")
    models = {MODEL: "provider: up, model: m", OLLAMA_MODEL: f"provider: up, model: {OLLAMA_MODEL}"}
    yield from serving(_answering, workdir, {"up": "openai"}, models)


def test_an_empty_finish_reason_is_no_finish(gateway: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "weather?"}]
    ) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["text", "tool_use"]
    text, call = message.content
    assert text.type == "text" and text.text == "Let me look."
    assert call.type == "tool_use" and (call.id, call.input) == ("call_1", {"city": "Oslo"})
    assert message.stop_reason == "tool_use"


def test_tool_calls_that_all_have_index_0_stay_apart(gateway: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    with client.messages.stream(
        model=OLLAMA_MODEL, max_tokens=100, messages=[{"role": "user", "content": "weather?"}]
    ) as stream:
        message = stream.get_final_message()
    calls = [(b.id, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("call_a", {"city": "Oslo"}), ("call_b", {"city": "Rome"})]
    assert message.stop_reason == "tool_use"
