"""A Responses upstream that streams some text and then fails (`response.failed`, with
the usage it consumed): the gateway records that usage whatever the client's protocol,
and a Responses client sees it in its own `response.failed`. Official SDKs → a real
gateway → an upstream that serves these exact bytes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from polyrelay.storage import open_database
from tests.integration.conftest import Gateway, serving_config

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


class Upstream(BaseHTTPRequestHandler):
    """The failing stream for a streamed call; the failed response as JSON otherwise."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        streamed = bool(request.get("stream"))
        body = STREAM if streamed else json.dumps(_FAILED).encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream" if streamed else "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Failing:
    def __init__(self, gateway: Gateway, db: Path) -> None:
        self.url = gateway.url
        self.db = db

    def new_key(self) -> str:
        """A fresh key, so each test sees only its own usage."""
        database = open_database(f"sqlite:///{self.db}")
        try:
            return database.keys.create("failed-usage", None)[1]
        finally:
            database.close()

    def recorded(self, secret: str) -> tuple[int, int, int]:
        """(requests, input tokens, output tokens) once the key's row is in (a stream's
        row is written when its response closes, just after the client read the end)."""
        deadline = time.monotonic() + 5
        headers = {"authorization": f"Bearer {secret}"}
        while True:
            data = httpx.get(self.url + "/v1/usage", headers=headers).json()["data"]
            if data or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        [row] = data
        return row["requests"], row["input_tokens"], row["output_tokens"]


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Failing]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workdir = tmp_path_factory.mktemp("failed-usage")
    db = workdir / "db.sqlite"
    config = workdir / "polyrelay.yaml"
    config.write_text(
        f"database: sqlite:///{db}\n"
        "providers:\n  failing: {type: openai-responses, base_url: "
        f'"http://127.0.0.1:{server.server_address[1]}/v1", api_key: up}}\n'
        f"models:\n  {MODEL}: {{provider: failing, model: gpt-5}}\n"
    )
    for gateway in serving_config(config):
        yield Failing(gateway, db)
    server.shutdown()


def _openai(failing: Failing, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=failing.url + "/v1", api_key=secret, max_retries=0)


def test_responses_stream_relayed(failing: Failing) -> None:
    secret = failing.new_key()
    events = list(_openai(failing, secret).responses.create(model=MODEL, input="hi", stream=True))
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.usage is not None
    assert (last.response.usage.input_tokens, last.response.usage.output_tokens) == (111, 22)
    assert failing.recorded(secret) == (1, 111, 22)


def test_responses_json_relayed(failing: Failing) -> None:
    secret = failing.new_key()
    result = _openai(failing, secret).responses.create(model=MODEL, input="hi")
    assert result.status == "failed" and result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (111, 22)
    assert failing.recorded(secret) == (1, 111, 22)


def test_chat_stream_translated(failing: Failing) -> None:
    secret = failing.new_key()
    messages: Any = [{"role": "user", "content": "hi"}]
    chunks = _openai(failing, secret).chat.completions.create(
        model=MODEL, messages=messages, stream=True
    )
    text = []
    with pytest.raises(openai.APIError, match="failed mid-answer"):
        for chunk in chunks:
            text += [c.delta.content or "" for c in chunk.choices]
    assert "".join(text) == "partial answer"
    assert failing.recorded(secret) == (1, 111, 22)


def test_messages_stream_translated(failing: Failing) -> None:
    secret = failing.new_key()
    client = anthropic.Anthropic(base_url=failing.url, api_key=secret, max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.APIError, match="failed mid-answer"):
        with client.messages.stream(model=MODEL, max_tokens=100, messages=messages) as events:
            events.get_final_message()
    assert failing.recorded(secret) == (1, 111, 22)
