"""A Chat upstream that sends `finish_reason: ""` on every chunk but the last, as SGLang
0.4 and older Ollama did (and some hosted OpenAI-compatible APIs still do): the gateway
took "" for a finish, so each chunk's text became a content block of its own and a tool
call streamed over several chunks was cut at its first, its rest a second call with
another id. Official SDKs → a real gateway → an upstream serving these exact bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, serving, sse, stream_answer
from tests.integration.servers import STATIC_KEY

MODEL = "empty-finish"


def _chunk(delta: dict[str, Any], finish: str) -> bytes:
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


def _answering(path: str, body: bytes) -> Answer:
    return stream_answer(STREAM)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir: Path = tmp_path_factory.mktemp("empty-finish")
    yield from serving(_answering, workdir, {"up": "openai"}, {MODEL: "provider: up, model: m"})


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
