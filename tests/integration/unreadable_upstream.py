"""A fake upstream for tests/integration/test_unreadable_*.py: each request's prompt names
a scenario (`SCEN:<name>`), which picks the exact bytes it answers with, on the OpenAI Chat
Completions, Responses, Anthropic Messages and Gemini paths. A body is written at once
with its length, so its last chunk reaches the gateway together with its end."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from polyrelay.storage import open_database
from tests.integration.conftest import Gateway, serving_config

CHAT, RESPONSES, MESSAGES, GEMINI = "u-chat", "u-responses", "u-messages", "u-gemini"
"""The gateway's models, one per upstream protocol."""


def sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


_CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
_DELTA = {"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}
_CHAT_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
CHAT_JSON = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
    ],
    "usage": _CHAT_USAGE,
}
CHAT_PARTIAL = b'data: {"id":"c1","object":"chat.completion.chunk","choi'
CHAT_CUT = sse({**_CHUNK, "choices": [_DELTA]}) + CHAT_PARTIAL

_SHELL = {"id": "resp_1", "object": "response", "created_at": 1, "model": "up", "output": []}
_MESSAGE = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant"}
_AT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
_RESPONSES_USAGE = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
RESPONSES_PARTIAL = b'event: response.output_text.delta\ndata: {"type":"resp'
RESPONSES_CUT = (
    b"".join(
        sse({"type": kind, "sequence_number": n, **members}, kind)
        for n, (kind, members) in enumerate(
            [
                ("response.created", {"response": {**_SHELL, "status": "in_progress"}}),
                ("response.output_item.added", {"output_index": 0, "item": _MESSAGE}),
                ("response.output_text.delta", {**_AT, "delta": "Hello", "logprobs": []}),
            ]
        )
    )
    + RESPONSES_PARTIAL
)
RESPONSES_JSON = {**_SHELL, "status": "completed", "usage": _RESPONSES_USAGE}
RESPONSES_FAILED = {
    **_SHELL,
    "status": "failed",
    "error": {"code": "rate_limit_exceeded", "message": "too many tokens mid-answer"},
    "usage": _RESPONSES_USAGE,
}

_ANTHROPIC_USAGE = {"input_tokens": 11, "output_tokens": 7}
MESSAGES_JSON = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "up",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": _ANTHROPIC_USAGE,
}
_START = {**MESSAGES_JSON, "content": [], "stop_reason": None, "usage": {**_ANTHROPIC_USAGE}}
_START["usage"]["output_tokens"] = 1
MESSAGES_PARTIAL = b'event: content_block_delta\ndata: {"type":"content_bl'
MESSAGES_CUT = (
    sse({"type": "message_start", "message": _START}, "message_start")
    + sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    + sse(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        "content_block_delta",
    )
    + MESSAGES_PARTIAL
)

GEMINI_OTHER = {
    "candidates": [{"index": 0, "finishReason": "OTHER"}],
    "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
    "modelVersion": "up",
}

HTML = b"<html><body>Please log in to the captive portal</body></html>"
BAD_JSON = b'{"id": "x", "choices": [ {"oops'

_JSON_ANSWERS = {"chat": CHAT_JSON, "responses": RESPONSES_JSON, "messages": MESSAGES_JSON}
_CUTS = {"chat": CHAT_CUT, "responses": RESPONSES_CUT, "messages": MESSAGES_CUT}


def answer(scenario: str, protocol: str) -> tuple[str, bytes]:
    """(content type, body) of a 200."""
    if scenario == "cut_eof":  # whole frames, then a partial one, then the end
        return "text/event-stream", _CUTS[protocol]
    if scenario == "nostream":  # a server that ignores `stream: true` (vLLM-like)
        return "application/json", json.dumps(_JSON_ANSWERS[protocol]).encode()
    if scenario == "badjson200":
        return "application/json", BAD_JSON
    if scenario == "empty200":
        return "application/json", b""
    if scenario == "html_200":
        return "text/html", HTML
    if scenario == "failed":  # Responses: a billed failure
        return "application/json", json.dumps(RESPONSES_FAILED).encode()
    if scenario == "other":  # Gemini: no output, and the prompt's tokens billed
        return "application/json", json.dumps(GEMINI_OTHER).encode()
    raise AssertionError(scenario)


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        found = re.search(rb"SCEN:(\w+)", raw)
        assert found is not None
        path = self.path.split("?")[0]
        protocol = (
            "chat"
            if path.endswith("/chat/completions")
            else "responses"
            if path.endswith("/responses")
            else "messages"
            if path.endswith("/messages")
            else "gemini"
        )
        media_type, body = answer(found.group(1).decode(), protocol)
        self.send_response(200)
        self.send_header("content-type", media_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Served:
    """The gateway in front of the fake upstream, and its usage rows."""

    def __init__(self, gateway: Gateway, db: Path) -> None:
        self.url = gateway.url
        self.log = gateway.log
        self.db = db

    def new_key(self) -> tuple[str, str]:
        """A fresh key (id, secret), so each test sees only its own usage."""
        database = open_database(f"sqlite:///{self.db}")
        try:
            key, secret = database.keys.create("unreadable", None)
            return key.id, secret
        finally:
            database.close()

    def recorded(self, key: tuple[str, str]) -> tuple[int, int, int]:
        """(input tokens, output tokens, status) of the key's one row, once it is in (a
        stream's row is written when its response closes, just after the client read
        its end; GET /v1/usage commits the rows parked for writing)."""
        key_id, secret = key
        deadline = time.monotonic() + 5
        headers = {"authorization": f"Bearer {secret}"}
        while not httpx.get(self.url + "/v1/usage", headers=headers).json()["data"]:
            assert time.monotonic() < deadline, "no usage row"
            time.sleep(0.02)
        with sqlite3.connect(self.db) as conn:
            [row] = conn.execute(
                "SELECT input_tokens, output_tokens, status FROM usage WHERE key_id = ?",
                (key_id,),
            ).fetchall()
        return row


def serve(workdir: Path) -> Iterator[Served]:
    """For a module fixture to `yield from`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    db = workdir / "db.sqlite"
    config = workdir / "polyrelay.yaml"
    config.write_text(
        f"database: sqlite:///{db}\n"
        "stream_keepalive_seconds: 0\n"
        "providers:\n"
        f'  chat: {{type: openai, base_url: "{base}/v1", api_key: up}}\n'
        f'  responses: {{type: openai-responses, base_url: "{base}/v1", api_key: up}}\n'
        f'  messages: {{type: anthropic, base_url: "{base}", api_key: up}}\n'
        f'  gemini: {{type: gemini, base_url: "{base}", api_key: up}}\n'
        "models:\n"
        f"  {CHAT}: {{provider: chat, model: up}}\n"
        f"  {RESPONSES}: {{provider: responses, model: up}}\n"
        f"  {MESSAGES}: {{provider: messages, model: up, max_output_tokens: 1000}}\n"
        f"  {GEMINI}: {{provider: gemini, model: up}}\n"
    )
    for gateway in serving_config(config):
        yield Served(gateway, db)
    server.shutdown()
