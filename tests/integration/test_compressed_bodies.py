"""Compressed request bodies end to end (pipeline/body_coding.py): the official SDKs send
their requests through a transport that compresses the body and says so in
Content-Encoding, as Codex does with zstd; the gateway answers as for the plain body,
relays the decoded JSON (never the coding) and records the same usage. A bomb gets the
413 of a too-large body, an unknown coding a 415 and corrupt data a 400, each in the
client's protocol's error shape."""

from __future__ import annotations

import functools
import gzip
import time
import zlib
from collections.abc import Callable
from typing import Any

import anthropic
import brotli
import httpx
import httpx2
import openai
import pytest
import zstandard

from polyrelay import codec
from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import STATIC_KEY, new_key

Compress = Callable[[bytes], bytes]
CODINGS: dict[str, Compress] = {
    "zstd": lambda body: zstandard.ZstdCompressor(level=3).compress(body),  # as Codex
    "gzip": gzip.compress,
    "br": brotli.compress,
    "deflate": zlib.compress,
}


class Sending:
    """How a client sends its bodies: in `coding`, as `compress` makes it (a bomb, a cut
    stream...); `sent` keeps each body as it went on the wire."""

    def __init__(self, coding: str, compress: Compress | None = None) -> None:
        self.coding = coding
        self.compress = compress or CODINGS[coding]
        self.sent: list[bytes] = []

    def compressed(self, request: Any) -> Any:
        """`request` (httpx's or httpx2's) with its body compressed."""
        encoded = self.compress(request.read())
        self.sent.append(encoded)
        headers = request.headers.copy()
        headers["content-encoding"] = self.coding
        headers["content-length"] = str(len(encoded))
        return type(request)(request.method, request.url, headers=headers, content=encoded)


class _Compressing:
    """A transport that sends the bodies as its `sending` says, for the openai SDK (on
    httpx) and the anthropic SDK (on httpx2) alike."""

    def __init__(self, sending: Sending) -> None:
        super().__init__()
        self.sending = sending

    def handle_request(self, request: Any) -> Any:
        return super().handle_request(self.sending.compressed(request))  # type: ignore[misc]


class _HttpxCompressing(_Compressing, httpx.HTTPTransport):
    pass


class _Httpx2Compressing(_Compressing, httpx2.HTTPTransport):
    pass


def fresh_key(gateway: Gateway) -> str:
    """A key of its own, so the test reads only its own usage."""
    return new_key(gateway.log.parent / "polyrelay.db", "compressed-bodies")[1]


def openai_sdk(url: str, key: str, sending: Sending | None) -> openai.OpenAI:
    client = httpx.Client(transport=_HttpxCompressing(sending)) if sending else None
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, http_client=client)


def responses(url: str, key: str, sending: Sending | None, model: str) -> None:
    sdk = openai_sdk(url, key, sending)
    assert sdk.responses.create(model=model, input="hello there").output_text == (
        "You said: hello there"
    )


def chat(url: str, key: str, sending: Sending | None, model: str) -> None:
    sdk = openai_sdk(url, key, sending)
    messages: Any = [{"role": "user", "content": "hello there"}]
    result = sdk.chat.completions.create(model=model, messages=messages)
    assert result.choices[0].message.content == "You said: hello there"


def messages(url: str, key: str, sending: Sending | None, model: str) -> None:
    client = httpx2.Client(transport=_Httpx2Compressing(sending)) if sending else None
    sdk = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, http_client=client)
    result = sdk.messages.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "hello there"}]
    )
    assert result.content[0].type == "text"
    assert result.content[0].text == "You said: hello there"


Call = Callable[[str, str, Sending | None, str], None]


@pytest.mark.parametrize(
    ("call", "coding", "model", "upstream_path"),
    [
        # The same protocol's upstream: the fast path relays the decoded body.
        pytest.param(responses, "zstd", "gpt-5-mini", "/v1/responses", id="responses-zstd"),
        pytest.param(chat, "gzip", "gpt-4o-mini", "/v1/chat/completions", id="chat-gzip"),
        pytest.param(messages, "br", "claude-sonnet-4-5", "/v1/messages", id="messages-br"),
        # Another protocol's upstream: translated from the decoded body.
        pytest.param(chat, "deflate", "claude-sonnet-4-5", "/v1/messages", id="chat-deflate"),
    ],
)
def test_a_compressed_body_is_answered_and_counted_as_the_plain_one(
    gateway: Gateway, emulator: Emulator, call: Call, coding: str, model: str, upstream_path: str
) -> None:
    key = fresh_key(gateway)
    sending = Sending(coding)
    call(gateway.url, key, sending, model)
    [sent] = sending.sent
    assert not sent.startswith(b"{")  # it went compressed
    relayed = emulator.last()
    assert relayed["path"] == upstream_path
    assert "content-encoding" not in relayed["headers"]
    assert "hello there" in codec.encode(relayed["body"]).decode()
    call(gateway.url, key, None, model)  # the same request, plain
    assert emulator.last()["body"] == relayed["body"]
    usage = _usage(gateway, key, requests=2)
    assert [(u["group"], u["requests"], u["input_tokens"], u["output_tokens"]) for u in usage] == [
        (model, 2, 4, 8)
    ]


def test_count_tokens_reads_a_compressed_body(gateway: Gateway) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hello"}]}
    plain = _post(gateway, "/v1/messages/count_tokens", codec.encode(body), None)
    packed = _post(gateway, "/v1/messages/count_tokens", gzip.compress(codec.encode(body)), "gzip")
    assert plain.status_code == packed.status_code == 200
    assert packed.json() == plain.json()


def test_codings_on_two_header_lines_are_one_list(gateway: Gateway) -> None:
    """Content-Encoding sent twice is one list, in the order the lines came (RFC 9110
    §5.3): gzip applied first, then zstd, is undone zstd first."""
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hello"}]}
    packed = CODINGS["zstd"](gzip.compress(codec.encode(body)))
    headers = [
        ("authorization", f"Bearer {STATIC_KEY}"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("content-encoding", "zstd"),
    ]
    url = gateway.url + "/v1/messages/count_tokens"
    reply = httpx.post(url, content=packed, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    assert (
        reply.json() == _post(gateway, "/v1/messages/count_tokens", codec.encode(body), None).json()
    )


@functools.cache
def bomb() -> bytes:
    """A GiB of zeros in 32 KiB of zstd (made 16 MiB at a time): the gateway stops
    decoding it at its limit, 32 MiB."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    zeros = bytes(16 * 1024 * 1024)
    return b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()


PROTOCOLS = [
    pytest.param(responses, "gpt-5-mini", id="responses"),
    pytest.param(chat, "gpt-4o-mini", id="chat"),
    pytest.param(messages, "claude-sonnet-4-5", id="messages"),
]
SDK_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)


@pytest.mark.parametrize(("call", "model"), PROTOCOLS)
def test_a_bomb_gets_the_413_of_a_body_too_large(gateway: Gateway, call: Call, model: str) -> None:
    with pytest.raises(SDK_ERRORS) as refused:
        call(gateway.url, STATIC_KEY, Sending("zstd", lambda _: bomb()), model)
    assert refused.value.status_code == 413
    message = _expect_error(refused.value, call, "request_too_large", "request_too_large")
    assert "larger than the limit of 33554432 bytes once decoded" in message


@pytest.mark.parametrize(("call", "model"), PROTOCOLS)
@pytest.mark.parametrize("coding", ["compress", "foo"])
def test_an_unknown_coding_is_a_415_naming_it(
    gateway: Gateway, call: Call, model: str, coding: str
) -> None:
    with pytest.raises(SDK_ERRORS) as refused:
        call(gateway.url, STATIC_KEY, Sending(coding, lambda body: body), model)
    assert refused.value.status_code == 415
    message = _expect_error(
        refused.value, call, "invalid_request_error", "unsupported_content_encoding"
    )
    assert f"Content-Encoding '{coding}' is not supported" in message
    assert "gzip, x-gzip, deflate, br, zstd, identity" in message


@pytest.mark.parametrize(("call", "model"), PROTOCOLS)
def test_corrupt_data_is_a_400_naming_the_coding(gateway: Gateway, call: Call, model: str) -> None:
    cut = Sending("zstd", lambda body: CODINGS["zstd"](body)[:-3])
    with pytest.raises(SDK_ERRORS) as refused:
        call(gateway.url, STATIC_KEY, cut, model)
    assert refused.value.status_code == 400
    message = _expect_error(refused.value, call, "invalid_request_error", None)
    assert "not valid zstd data" in message


def _post(gateway: Gateway, path: str, body: bytes, coding: str | None) -> httpx.Response:
    headers = {
        "authorization": f"Bearer {STATIC_KEY}",
        "x-api-key": STATIC_KEY,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    if coding is not None:
        headers["content-encoding"] = coding
    return httpx.post(gateway.url + path, content=body, headers=headers, timeout=30)


def _expect_error(
    error: openai.APIStatusError | anthropic.APIStatusError, call: Call, kind: str, code: str | None
) -> str:
    """The error's message, once its shape is checked as its SDK reads it: Anthropic's on
    /v1/messages (its type), OpenAI's on the others (type invalid_request_error, the code)."""
    body: Any = error.response.json()
    if call is messages:
        assert body["type"] == "error"
        assert body["error"]["type"] == kind
    else:
        assert isinstance(error, openai.APIStatusError)
        assert (error.type, error.code) == ("invalid_request_error", code)
    message: str = body["error"]["message"]
    return message


def _usage(gateway: Gateway, key: str, requests: int) -> list[dict[str, Any]]:
    """The key's usage once `requests` rows are in (they are written in batches)."""
    deadline = time.monotonic() + 5
    while True:
        answer = httpx.get(gateway.url + "/v1/usage", headers={"authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        if sum(d["requests"] for d in data) >= requests or time.monotonic() > deadline:
            return data
        time.sleep(0.02)
