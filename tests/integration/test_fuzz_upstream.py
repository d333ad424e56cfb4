"""Mutated upstream answers, of every upstream type, through every client protocol of a real
gateway: whatever an upstream sends back (a member missing or of another type, an event
dropped, doubled or cut short, stray bytes in a stream, an error status with a mangled
error body), the client gets a success or an error in its own protocol, never a 500 that
the upstream did not cause, and the gateway logs no unhandled error. The seeds are the
emulator's own answers, with reasoning and a tool call, JSON and streamed, and its error
body; hypothesis mutates them (POLYRELAY_FUZZ_EXAMPLES examples a test, 60 by default)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given, strategies as st

from tests.fuzz_support import (
    FUZZ,
    UNHANDLED,
    LogReader,
    assert_protocol_answer,
    mutated,
)
from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY

PROMPT = '[[think weighing it]] [[tool get_weather {"city": "Paris"}]] weather?'
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
_EVENT_END = re.compile(rb"\r?\n\r?\n")
ERROR_STATUSES = [400, 401, 403, 404, 413, 429, 500, 503, 529]


class Answer:
    """What the fuzzed upstream sends: JSON for a plain call, SSE bytes for a stream, or
    with an error status, the JSON error for either."""

    def __init__(self) -> None:
        self.json = b"{}"
        self.stream = b""
        self.status = 200
        self.error = b"{}"


def _serve(answer: Answer) -> type[BaseHTTPRequestHandler]:
    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            request = self.rfile.read(int(self.headers.get("content-length") or 0))
            streamed = "alt=sse" in self.path or b'"stream":true' in request.replace(b" ", b"")
            body = answer.stream if streamed else answer.json
            if answer.status != 200:
                body, streamed = answer.error, False
            self.send_response(answer.status)
            self.send_header(
                "content-type", "text/event-stream" if streamed else "application/json"
            )
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Upstream


def _request(
    kind: str, model: str, stream: bool, prompt: str = PROMPT
) -> tuple[str, dict[str, Any]]:
    """The path and body of a call in `kind`'s protocol that declares the get_weather tool:
    to the emulator for the seeds, to the gateway in each client protocol."""
    user = {"role": "user", "content": prompt}
    function = {"name": "get_weather", "description": "weather", "parameters": SCHEMA}
    if kind == "openai":
        tools = [{"type": "function", "function": function}]
        body = {"model": model, "messages": [user], "tools": tools, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return "/v1/chat/completions", body
    if kind == "openai-responses":
        tools = [{"type": "function", **function}]
        return "/v1/responses", {"model": model, "input": prompt, "tools": tools,
                                 "stream": stream}  # fmt: skip
    if kind == "anthropic":
        tool = {"name": "get_weather", "description": "weather", "input_schema": SCHEMA}
        # Thinking on: Claude thinks only when asked, and the seed is to carry reasoning.
        thinking = {"type": "enabled", "budget_tokens": 1024}
        return "/v1/messages", {
            "model": model,
            "max_tokens": 2048,
            "messages": [user],
            "tools": [tool],
            "thinking": thinking,
            "stream": stream,
        }
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "tools": [{"functionDeclarations": [function]}],
    }
    return f"/v1beta/models/{model}:{method}", body


KINDS = ["anthropic", "gemini", "openai", "openai-responses"]
CLIENTS = ["anthropic", "openai", "openai-responses"]
"""The client protocols, named as the upstream types that speak them."""


@pytest.fixture(scope="module")
def seeds(emulator: Emulator) -> dict[tuple[str, bool | None], bytes]:
    """The emulator's answers per (upstream type, streamed), and its error body per
    upstream type at (type, None)."""
    headers = {"authorization": "Bearer up", "x-api-key": "up", "x-goog-api-key": "up"}
    found: dict[tuple[str, bool | None], bytes] = {}
    for kind in KINDS:
        for stream in (False, True):
            path, body = _request(kind, MODELS_BY_PROVIDER[kind], stream)
            reply = httpx.post(emulator.url + path, json=body, headers=headers, timeout=30)
            assert reply.status_code == 200, reply.text
            assert kind != "anthropic" or b'"thinking"' in reply.content  # seeds reason
            found[(kind, stream)] = reply.content
        path, body = _request(kind, MODELS_BY_PROVIDER[kind], False, "[[error 400]] refused")
        reply = httpx.post(emulator.url + path, json=body, headers=headers, timeout=30)
        assert reply.status_code == 400, reply.text
        found[(kind, None)] = reply.content
    return found


@pytest.fixture(scope="module")
def answer() -> Answer:
    return Answer()


@pytest.fixture(scope="module")
def gateway(answer: Answer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _serve(answer))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{server.server_address[1]}"
    workdir = tmp_path_factory.mktemp("fuzz-upstream")
    config = workdir / "polyrelay.yaml"
    providers = "\n".join(
        f'  fz-{kind}: {{type: {kind}, base_url: "{upstream}{"/v1" if "openai" in kind else ""}",'
        " api_key: up}"
        for kind in KINDS
    )
    models = "\n".join(f"  m-{kind}: {{provider: fz-{kind}}}" for kind in KINDS)
    config.write_text(
        f"database: sqlite:///{workdir / 'db.sqlite'}\nproviders:\n{providers}\n"
        f'models:\n{models}\nkeys:\n  - {{key: "{STATIC_KEY}", name: ci}}\n'
    )
    yield from serving_config(config)
    server.shutdown()


def _events(stream: bytes) -> list[bytes]:
    return [event for event in _EVENT_END.split(stream) if event.strip()]


@st.composite
def mutated_stream(draw: st.DrawFn, stream: bytes) -> bytes:
    """`stream` with one event's JSON mutated, or one event dropped or doubled, or the
    bytes cut short anywhere, or a few bytes put in anywhere (line breaks, invalid UTF-8,
    anything)."""
    events = _events(stream)
    operations = ["mutate", "mutate", "drop", "double", "cut", "bytes"]
    operation = draw(st.sampled_from(operations))
    at = draw(st.integers(min_value=0, max_value=len(stream) - 1))
    if operation == "cut":
        return stream[:at]
    if operation == "bytes":
        noise = st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\r", b"\xff", b"data: ", b":"])
        return stream[:at] + draw(noise | st.binary(min_size=1, max_size=4)) + stream[at:]
    index = draw(st.integers(min_value=0, max_value=len(events) - 1))
    event = events[index]
    if operation == "drop":
        del events[index]
    elif operation == "double":
        events.insert(index, event)
    else:
        head, _, data = event.rpartition(b"data: ")
        if data.strip() and data.strip() != b"[DONE]":
            document = json.loads(data)
            events[index] = head + b"data: " + json.dumps(draw(mutated(document))).encode()
    return b"".join(event + b"\n\n" for event in events)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data(), protocol=st.sampled_from(CLIENTS))
def test_a_mutated_upstream_answer_reaches_the_client_in_its_protocol(
    kind: str,
    data: st.DataObject,
    protocol: str,
    seeds: dict[tuple[str, bool | None], bytes],
    answer: Answer,
    gateway: Gateway,
) -> None:
    stream = data.draw(st.booleans(), label="stream")
    answer.json, answer.stream = seeds[(kind, False)], seeds[(kind, True)]
    answer.status = data.draw(st.sampled_from([200, 200, 200, *ERROR_STATUSES]), label="status")
    if answer.status != 200:
        error = json.loads(seeds[(kind, None)])
        answer.error = json.dumps(data.draw(mutated(error), label="upstream error")).encode()
    elif stream:
        answer.stream = data.draw(mutated_stream(answer.stream), label="upstream stream")
    else:
        document = json.loads(answer.json)
        answer.json = json.dumps(data.draw(mutated(document), label="upstream")).encode()
    path, body = _request(protocol, f"m-{kind}", stream)
    log = LogReader(gateway.log)
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    with httpx.stream("POST", gateway.url + path, json=body, headers=headers, timeout=60) as r:
        r.read()
    assert_protocol_answer(r, anthropic=protocol == "anthropic", upstream=answer.status)
    logged = log.new_text()
    assert not any(marker in logged for marker in UNHANDLED), logged


def test_the_seeds_pass_unchanged(
    seeds: dict[tuple[str, bool | None], bytes], answer: Answer, gateway: Gateway
) -> None:
    """Unmutated, every seed is a 200 with the tool call in every protocol: the fuzzing
    above starts from answers the gateway reads in full."""
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    answer.status = 200
    for kind in KINDS:
        answer.json, answer.stream = seeds[(kind, False)], seeds[(kind, True)]
        for protocol in CLIENTS:
            for stream in (False, True):
                path, body = _request(protocol, f"m-{kind}", stream)
                reply = httpx.post(gateway.url + path, json=body, headers=headers, timeout=60)
                assert reply.status_code == 200, (kind, protocol, stream, reply.text)
                assert "get_weather" in reply.text, (kind, protocol, stream, reply.text)


def test_an_unmutated_upstream_error_keeps_its_status_in_every_protocol(
    seeds: dict[tuple[str, bool | None], bytes], answer: Answer, gateway: Gateway
) -> None:
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    answer.status = 429
    try:
        for kind in KINDS:
            answer.error = seeds[(kind, None)]
            for protocol in CLIENTS:
                path, body = _request(protocol, f"m-{kind}", False)
                reply = httpx.post(gateway.url + path, json=body, headers=headers, timeout=60)
                assert reply.status_code == 429, (kind, protocol, reply.text)
                assert_protocol_answer(reply, anthropic=protocol == "anthropic", upstream=429)
    finally:
        answer.status = 200
