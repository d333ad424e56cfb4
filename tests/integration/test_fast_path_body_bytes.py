"""The fast path changes only the members of the client's body it must (`model`, the
service's `async`, a Responses `store`, a Chat stream's `stream_options`…) and relays the
rest as the client wrote it, byte for byte: its spacing, escapes and number spellings.
The conversation, most of a Claude Code or Codex body, is not decoded and encoded again.
What must still change deep inside it still does: thinking blocks another provider signed
(also when the client escaped the signature's letters), a Responses conversation's history.
Raw HTTP bodies (exact bytes) → a real gateway → an upstream that records what it got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, serving
from tests.integration.servers import STATIC_KEY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
ANSWERS = {
    "/v1/chat/completions": "openai/basic.json",
    "/v1/messages": "anthropic/basic.json",
    "/v1/responses": "openai-responses/basic.json",
}
REASONING = "openai-responses/reasoning.json"
HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "content-type": "application/json"}
# Spacing, escapes (a terminal's ESC, escaped non-ASCII) and a number spelling that a
# decode and encode would not keep.
CONVERSATION = (
    '[ {"role" : "user", "content": "café \\"q\\"\\/ 1.50e2 \\u001b[1m caf\\u00e9"},'
    ' {"role": "assistant", "content": "ok"}, {"role": "user", "content": "again"} ]'
).encode()


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def answer(self, path: str, body: bytes) -> Answer:
        self.bodies.append(body)
        reasoning = json.loads(body)["model"] == "up-reasoning"
        document = (FIXTURES / (REASONING if reasoning else ANSWERS[path])).read_bytes()
        return 200, {"content-type": "application/json"}, document


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def gateway(recorder: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        recorder.answer,
        tmp_path_factory.mktemp("fast-bytes"),
        {"chat": "openai", "messages": "anthropic", "responses": "openai-responses"},
        {
            "u-chat": "provider: chat, model: up-chat",
            "u-messages": "provider: messages, model: up-messages",
            "u-responses": "provider: responses, model: up-responses",
            "u-reasoning": "provider: responses, model: up-reasoning",
        },
    )


def relayed(gateway: Gateway, recorder: Recorder, path: str, body: bytes) -> bytes:
    before = len(recorder.bodies)
    answer = httpx.post(gateway.url + path, content=body, headers=HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    [sent] = recorder.bodies[before:]
    return sent


def test_a_chat_body_keeps_its_bytes(gateway: Gateway, recorder: Recorder) -> None:
    body = b'{"model": "u-chat", "messages": ' + CONVERSATION + b', "temperature": 1.0}'
    sent = relayed(gateway, recorder, "/v1/chat/completions", body)
    assert b'"messages": ' not in sent  # members are written compactly, their values kept
    assert b'"messages":' + CONVERSATION in sent
    assert b'"temperature":1.0' in sent
    assert json.loads(sent)["model"] == "up-chat"


def test_a_streamed_chat_body_still_asks_for_usage(gateway: Gateway, recorder: Recorder) -> None:
    body = b'{"model":"u-chat","messages":' + CONVERSATION + b',"stream":true,"async":false}'
    before = len(recorder.bodies)
    httpx.post(gateway.url + "/v1/chat/completions", content=body, headers=HEADERS, timeout=10)
    [sent] = recorder.bodies[before:]
    assert b'"messages":' + CONVERSATION in sent
    document = json.loads(sent)
    assert document["stream_options"] == {"include_usage": True}
    assert "async" not in document


def test_a_messages_body_keeps_its_bytes(gateway: Gateway, recorder: Recorder) -> None:
    body = b'{"model":"u-messages","max_tokens":20,"messages":' + CONVERSATION + b"}"
    sent = relayed(gateway, recorder, "/v1/messages", body)
    assert b'"messages":' + CONVERSATION in sent
    assert json.loads(sent)["model"] == "up-messages"


@pytest.mark.parametrize("prefix", ["gw1.", "\\u0067w1."], ids=["plain", "escaped"])
def test_thinking_another_provider_signed_is_still_left_out(
    gateway: Gateway, recorder: Recorder, prefix: str
) -> None:
    """A Messages conversation that went through an OpenAI reasoning model carries the
    gateway's signature on that model's thinking; Anthropic would refuse it."""
    ask: dict[str, Any] = {
        "model": "u-reasoning",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "hi"}],
    }
    answer = httpx.post(gateway.url + "/v1/messages", json=ask, headers=HEADERS, timeout=10)
    blocks = answer.json()["content"]
    assert blocks[0]["type"] == "thinking" and blocks[0]["signature"].startswith("gw1.")
    ask["model"] = "u-messages"
    ask["messages"] += [
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": "more"},
    ]
    body = json.dumps(ask).replace('"gw1.', '"' + prefix).encode()
    assert (b'"' + prefix.encode()) in body
    sent = json.loads(relayed(gateway, recorder, "/v1/messages", body))
    assert [block["type"] for block in sent["messages"][1]["content"]] == ["text"]


def test_a_responses_body_keeps_its_bytes(gateway: Gateway, recorder: Recorder) -> None:
    body = b'{"model":"u-responses","input":' + CONVERSATION + b',"top_p": 0.50}'
    sent = relayed(gateway, recorder, "/v1/responses", body)
    assert b'"input":' + CONVERSATION in sent
    assert b'"top_p":0.50' in sent
    document = json.loads(sent)
    assert (document["model"], document["store"]) == ("up-responses", False)


def test_a_responses_history_is_still_put_before_the_input(
    gateway: Gateway, recorder: Recorder
) -> None:
    first = httpx.post(
        gateway.url + "/v1/responses",
        content=b'{"model":"u-responses","input":"first turn"}',
        headers=HEADERS,
        timeout=10,
    ).json()
    body = '{"model":"u-responses","input":"second turn","previous_response_id":"%s"}'
    sent = json.loads(relayed(gateway, recorder, "/v1/responses", (body % first["id"]).encode()))
    assert "previous_response_id" not in sent
    texts = json.dumps(sent["input"])
    assert texts.index("first turn") < texts.index("Hello") < texts.index("second turn")
