"""The end of a relayed stream (`passthrough._forward`): when the chunk that ends the
upstream's body stops in the middle of a frame, or the rewriting held a partial frame, the
error frame still starts on a frame boundary, and the partial frame, whose rest never
came, is not sent. The usage row of a stream that ended in an error has that error's
status and the tokens reported before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.unit.builders import UsageRows, route

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamTimeoutError
from polyrelay.frontends.anthropic_messages.stream import AnthropicStreamRenderer
from polyrelay.frontends.openai_chat.stream import OpenAIChatStreamRenderer
from polyrelay.ir import ChatRequest
from polyrelay.pipeline.metering import Meter
from polyrelay.pipeline.passthrough import _Boundary, _Echo, _forward
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.openai_chat import OpenAIChatProvider


class Renderer:
    def fail(self, error: GatewayError) -> list[bytes]:
        return [b'data: {"error":"' + error.message.encode() + b'"}\n\n']


ERROR = b'data: {"error":"e"}\n\n'


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        (b'data: {"a":1}\n\ndata: {"ch', b'data: {"a":1}\n\n'),
        (b'data: {"a":1}\r\n\r\ndata: {"ch', b'data: {"a":1}\r\n\r\n'),
        (b'data: {"a":1}\r\rdata: {"ch', b'data: {"a":1}\r\r'),
        (b'data: {"a":1}\n\n', b'data: {"a":1}\n\n'),
        (b'{"id": "x", "choices": [ {"oops', b""),
        (b"<html><body>login</body></html>", b""),
    ],
)
def test_a_partial_frame_at_the_end_is_dropped(tail: bytes, kept: bytes) -> None:
    boundary = _Boundary(Renderer())  # type: ignore[arg-type]
    assert boundary.end(tail, GatewayError("e")) == kept + ERROR


def test_a_crlf_is_one_line_end_not_a_frame_end() -> None:
    boundary = _Boundary(Renderer())  # type: ignore[arg-type]
    assert boundary.end(b'data: {"a":1}\r\ndata: {"b"', GatewayError("e")) == ERROR


def test_a_partial_frame_already_sent_is_ended_first() -> None:
    boundary = _Boundary(Renderer())  # type: ignore[arg-type]
    boundary.feed(b'data: {"id":"c1","te')
    assert boundary.end(b"xt", GatewayError("e")) == b"\n\n" + ERROR


class ScriptedStream:
    """Chunks as the upstream sends them; the last comes with the end of the body, or
    `fault` is raised after them."""

    def __init__(self, chunks: list[bytes], fault: GatewayError | None = None) -> None:
        self._chunks = chunks
        self._taken = 0
        self._fault = fault

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self._taken += 1
            yield chunk
        if self._fault is not None:
            raise self._fault

    def at_eof(self) -> bool:
        return self._fault is None and self._taken == len(self._chunks)

    async def __aenter__(self) -> ScriptedStream:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


USAGE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
    b'"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}\n\n'
)
HELLO = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
    b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n'
)
PARTIAL = b'data: {"id":"c1","object":"chat.completion.chunk","choi'


def forward(stream: ScriptedStream, public: str = "m") -> tuple[bytes, UsageRows]:
    ctx = RequestContext(model=public, key_id="k")
    upstream = route("openai", upstream="up", public=public)
    rows = UsageRows()
    meter = Meter(rows, ctx, upstream, stream=True)
    renderer = _Boundary(OpenAIChatStreamRenderer(ChatRequest(model=public, messages=()), ctx))
    parser = OpenAIChatProvider().relay_parser(upstream, ctx)
    echo = _Echo("up", public, [])

    async def collect() -> bytes:
        frames = _forward(stream, parser, renderer, None, meter, echo)  # type: ignore[arg-type]
        return b"".join([frame async for frame in frames])

    return asyncio.run(collect()), rows


@pytest.mark.parametrize("public", ["m", "up"])  # renamed (frames held) or not
@pytest.mark.parametrize("split", [True, False])  # the partial frame alone, or with others
def test_a_stream_cut_mid_frame_with_its_end(public: str, split: bool) -> None:
    chunks = [HELLO + USAGE, PARTIAL] if split else [HELLO + USAGE + PARTIAL]
    out, _ = forward(ScriptedStream(chunks), public)
    at = out.index(b'data: {"error"')
    assert out[:at].endswith(b"\n\n") and PARTIAL not in out


def test_a_stream_that_times_out_mid_frame() -> None:
    stall = UpstreamTimeoutError("The upstream stopped sending its answer (timed out).")
    out, _ = forward(ScriptedStream([HELLO + USAGE, PARTIAL], stall))
    at = out.index(b'data: {"error"')
    assert out[:at].endswith(b"\n\n") and PARTIAL not in out  # held by the renaming


ANTHROPIC_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
    b'"type":"message","role":"assistant","model":"up","content":[],"stop_reason":null,'
    b'"usage":{"input_tokens":11,"output_tokens":1}}}\n\n'
)
ANTHROPIC_ERROR = (
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
)


def forward_messages(stream: ScriptedStream) -> tuple[bytes, UsageRows]:
    ctx = RequestContext(model="m", key_id="k")
    upstream = route("anthropic", upstream="up")
    rows = UsageRows()
    meter = Meter(rows, ctx, upstream, stream=True)
    renderer = _Boundary(AnthropicStreamRenderer(ctx))
    parser = AnthropicProvider().relay_parser(upstream, ctx)

    async def collect() -> bytes:
        frames = _forward(stream, parser, renderer, None, meter, _Echo("up", "m", []))  # type: ignore[arg-type]
        return b"".join([frame async for frame in frames])

    return asyncio.run(collect()), rows


@pytest.mark.parametrize(
    ("stream", "status"),
    [
        (ScriptedStream([ANTHROPIC_START, PARTIAL]), 502),  # cut off
        (ScriptedStream([ANTHROPIC_START, ANTHROPIC_ERROR]), 529),  # the upstream's error
        (ScriptedStream([ANTHROPIC_START], UpstreamTimeoutError("stalled")), 504),
    ],
)
def test_a_failed_stream_is_recorded_with_its_status_and_tokens(
    stream: ScriptedStream, status: int
) -> None:
    _, rows = forward_messages(stream)
    [row] = rows.rows
    assert (row.input_tokens, row.output_tokens, row.status) == (11, 1, status)
