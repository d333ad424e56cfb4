"""A client that leaves before its answer (an SDK's timeout) stops the request it made: the
upstream call under way is dropped (its connection closed) instead of running to its end
for nobody, a web search loop stops in its later round, and the usage row says 499 with the
usage of the calls that had answered; the gateway logs the 499 line, no exception. A client
that stays gets its answer as before, on the same keep-alive connection too. Official SDKs
→ a real gateway → an upstream in this process that holds a call and notes when the
gateway hangs up."""

from __future__ import annotations

import json
import re
import select
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.conftest import serving_config
from tests.integration.exact_upstream import Metered
from tests.integration.servers import STATIC_KEY

HOLD_SECONDS = 5.0
"""How long the upstream takes over a held call (the answer nobody should wait for)."""
CLIENT_TIMEOUT = 0.5
"""When the clients that leave give up (as an SDK's timeout does): well after the held call
came, and long before its answer."""
SEARCH_CLIENT_TIMEOUT = 1.5
"""The same for a search loop, whose held call comes after a round and a search."""
MODEL = "held"

_USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
ANSWER = {
    "id": "c2",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "done"}, "finish_reason": "stop"}
    ],
    "usage": _USAGE,
}
_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "web_search", "arguments": '{"query": "cats"}'},
}
SEARCH_CALL = {
    **ANSWER,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [_CALL]},
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
}


class Calls:
    """The held calls, by the marker in their prompt: when each came, and when the gateway
    hung up on it (not while it is held: never)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.came: dict[str, float] = {}
        self.hung_up: dict[str, float] = {}

    def note(self, table: dict[str, float], marker: str) -> None:
        with self.lock:
            table[marker] = time.monotonic()

    def hang_up(self, marker: str, within: float) -> float | None:
        """When the gateway hung up on the call of `marker`, waiting up to `within` s."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.lock:
                if marker in self.hung_up:
                    return self.hung_up[marker]
            time.sleep(0.02)
        return None


calls = Calls()


def _closed_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the peer closes `connection` within `seconds` (it sends nothing more while
    it waits for the answer: a readable socket is its end, or its reset)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([connection], [], [], min(left, 0.02))
        if readable:
            try:
                return connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True
    return False


class Upstream(BaseHTTPRequestHandler):
    """An OpenAI Chat upstream. A prompt with `hold SECONDS` is answered after SECONDS
    unless the gateway hangs up first; with `search`, its first round asks for a web
    search and the round after it is the one held."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["content-length"])))
        prompt = json.dumps(request["messages"])
        marker = re.search(r"m-[0-9a-f]{32}", prompt)
        hold = re.search(r"hold ([0-9.]+)", prompt)
        if "search" in prompt and request["messages"][-1]["role"] != "tool":
            return self.answer(SEARCH_CALL)
        if marker is not None and hold is not None:
            calls.note(calls.came, marker.group(0))
            if _closed_within(self.connection, float(hold.group(1))):
                calls.note(calls.hung_up, marker.group(0))
                self.close_connection = True
                return None
        return self.answer(ANSWER)

    def answer(self, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    workdir = tmp_path_factory.mktemp("disconnect-cancels")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    config = workdir / "polyrelay.yaml"
    config.write_text(
        f"database: sqlite:///{workdir / 'db.sqlite'}\n"
        f'providers:\n  chat: {{type: openai, base_url: "{base}", api_key: up}}\n'
        f"models:\n  {MODEL}: {{provider: chat, model: up}}\n"
        f'keys:\n  - {{key: "{STATIC_KEY}", name: ci}}\n'
    )
    try:
        for served in serving_config(config):
            yield Metered(served, workdir)
    finally:
        server.shutdown()


def row(gateway: Metered, key: tuple[str, str]) -> tuple[int, int, int, int]:
    """(input tokens, output tokens, web searches, status) of the key's one row."""
    gateway.recorded(key)  # waits for it
    with sqlite3.connect(Path(gateway.db)) as conn:
        [found] = conn.execute(
            "SELECT input_tokens, output_tokens, web_search_requests, status FROM usage"
            " WHERE key_id = ?",
            (key[0],),
        ).fetchall()
    return found


def rows(gateway: Metered, key: tuple[str, str], count: int) -> list[tuple[int, int]]:
    """(input tokens, status) of the key's rows, once there are `count` (GET /v1/usage
    commits the rows parked for writing)."""
    deadline = time.monotonic() + 5
    while True:
        httpx.get(gateway.url + "/v1/usage", headers={"authorization": f"Bearer {key[1]}"})
        with sqlite3.connect(Path(gateway.db)) as conn:
            found = conn.execute(
                "SELECT input_tokens, status FROM usage WHERE key_id = ?", (key[0],)
            ).fetchall()
        if len(found) >= count or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.05)


def ask(gateway: Metered, secret: str, path: str, text: str, timeout: float) -> str:
    """The answer's text, by the official SDK of `path`'s protocol (no retries)."""
    if path == "/v1/messages":
        claude = anthropic.Anthropic(
            base_url=gateway.url, api_key=secret, timeout=timeout, max_retries=0
        )
        message = claude.messages.create(
            model=MODEL, max_tokens=50, messages=[{"role": "user", "content": text}]
        )
        return "".join(block.text for block in message.content if block.type == "text")
    client = openai.OpenAI(
        base_url=gateway.url + "/v1", api_key=secret, timeout=timeout, max_retries=0
    )
    if path == "/v1/responses":
        return client.responses.create(model=MODEL, input=text).output_text
    extra = {"web_search_options": {}} if "search" in text else {}
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], extra_body=extra
    )
    return completion.choices[0].message.content or ""


def leave(
    gateway: Metered, secret: str, path: str, text: str, timeout: float = CLIENT_TIMEOUT
) -> float:
    """Ask, and give up after `timeout` as the SDK's timeout does; when it gave up."""
    with pytest.raises((openai.APITimeoutError, anthropic.APITimeoutError)):
        ask(gateway, secret, path, text, timeout)
    return time.monotonic()


def assert_stopped(gateway: Metered, marker: str, left: float, path: str) -> None:
    """The held call came, and the gateway hung up on it at once, not at its end; its log
    has the request's 499 line and no exception."""
    assert marker in calls.came, "the held call never came"
    hung_up = calls.hang_up(marker, within=HOLD_SECONDS / 2)
    assert hung_up is not None, "the gateway waited for the answer of a client gone"
    assert hung_up - left < 1.0
    log = gateway.log.read_text()
    assert "Exception in ASGI application" not in log and "Traceback" not in log, log
    assert f"POST {path} model={MODEL} status=499" in log


PATHS = {
    # the same-protocol fast path, and two translated ones
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
}


@pytest.mark.parametrize("path", list(PATHS.values()), ids=list(PATHS))
def test_a_client_gone_before_its_answer_stops_the_upstream_call(
    gateway: Metered, path: str
) -> None:
    key = gateway.new_key()
    marker = f"m-{uuid.uuid4().hex}"
    asked = time.monotonic()
    left = leave(gateway, key[1], path, f"hold {HOLD_SECONDS} {marker}")
    assert_stopped(gateway, marker, left, path)
    assert row(gateway, key) == (0, 0, 0, 499)
    assert time.monotonic() - asked < HOLD_SECONDS  # the row did not wait for the upstream


def test_a_client_gone_during_a_search_loop_keeps_the_rounds_answered(gateway: Metered) -> None:
    """The first round (a search call) answered and the search ran; the client leaves during
    the second round, which is dropped: the row has the first round and its search."""
    key = gateway.new_key()
    marker = f"m-{uuid.uuid4().hex}"
    path = "/v1/chat/completions"
    text = f"search cats, then hold {HOLD_SECONDS} {marker}"
    left = leave(gateway, key[1], path, text, SEARCH_CLIENT_TIMEOUT)
    assert_stopped(gateway, marker, left, path)
    assert row(gateway, key) == (100, 10, 1, 499)


def test_only_the_unanswered_request_of_a_kept_alive_connection_stops(gateway: Metered) -> None:
    """One connection: a request answered after a wait (200), then one its client leaves
    (499). The answered one is not touched when the connection goes."""
    key = gateway.new_key()
    headers = {"authorization": f"Bearer {key[1]}"}
    stays, leaves = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"
    url = gateway.url + "/v1/chat/completions"

    def body(text: str) -> dict[str, Any]:
        return {"model": MODEL, "messages": [{"role": "user", "content": text}]}

    with httpx.Client(headers=headers, timeout=10) as client:
        answered = client.post(url, json=body(f"hold 0.5 {stays}"))
        assert answered.status_code == 200, answered.text
        assert answered.json()["choices"][0]["message"]["content"] == "done"
        with pytest.raises(httpx.ReadTimeout):
            client.post(url, json=body(f"hold {HOLD_SECONDS} {leaves}"), timeout=CLIENT_TIMEOUT)
        left = time.monotonic()
    assert stays not in calls.hung_up
    assert_stopped(gateway, leaves, left, "/v1/chat/completions")
    assert rows(gateway, key, 2) == [(0, 499), (7, 200)]


@pytest.mark.parametrize("path", list(PATHS.values()), ids=list(PATHS))
def test_a_client_that_waits_gets_its_answer(gateway: Metered, path: str) -> None:
    key = gateway.new_key()
    assert ask(gateway, key[1], path, f"hold 0.5 m-{uuid.uuid4().hex}", 10) == "done"
    assert row(gateway, key) == (7, 3, 0, 200)
