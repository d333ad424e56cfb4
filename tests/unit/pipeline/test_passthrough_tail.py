"""The end of a relayed stream (`passthrough._forward`): when the chunk that ends the
upstream's body stops in the middle of a frame, or the rewriting held a partial frame, the
error frame still starts on a frame boundary, and the partial frame, whose rest never
came, is not sent. The usage row of a stream that ended in an error has that error's
status and the tokens reported before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from tests.unit.builders import UsageRows, route

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamTimeoutError
from polyrelay.frontends.anthropic_messages.stream import AnthropicStreamRenderer
from polyrelay.frontends.openai_chat.stream import OpenAIChatStreamRenderer
from polyrelay.ir import ChatRequest
from polyrelay.pipeline.metering import Meter, MeteredFrames
from polyrelay.pipeline.passthrough import _Boundary, _Echo, _forward
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.openai_chat import OpenAIChatProvider
from polyrelay.providers.openai_chat.relay import drop_unasked_usage


class Renderer:
    def fail(self, error: GatewayError) -> list[bytes]:
        return [b'data: {"error":"' + error.message.encode() + b'"}\n\n']


ERROR = b'data: {"error":"e"}\n\n'


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        (b'data: {"a":1}\n\ndata: {"ch', b'data: {"a":1}\n\n'),
        (b'data: {"a":1}\n\n', b'data: {"a":1}\n\n'),
        (b'{"id": "x", "choices": [ {"oops', b""),
        (b"<html><body>login</body></html>", b""),
    ],
)
def test_a_partial_frame_at_the_end_is_dropped(tail: bytes, kept: bytes) -> None:
    boundary = _Boundary(Renderer())  # type: ignore[arg-type]
    assert boundary.end(tail, GatewayError("e")) == kept + ERROR


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


def forward(
    stream: ScriptedStream, public: str = "m", trim: Callable[[bytes], bytes] | None = None
) -> tuple[bytes, UsageRows]:
    ctx = RequestContext(model=public, key_id="k")
    upstream = route("openai", upstream="up", public=public)
    rows = UsageRows()
    meter = Meter(rows, ctx, upstream, stream=True)
    renderer = _Boundary(OpenAIChatStreamRenderer(ChatRequest(model=public, messages=()), ctx))
    parser = OpenAIChatProvider().relay_parser(upstream, ctx)
    echo = _Echo("up", public, [], trim)

    async def collect() -> bytes:
        frames = _forward(stream, parser, renderer, None, meter, echo)  # type: ignore[arg-type]
        return await drained(frames, meter)

    return asyncio.run(collect()), rows


async def drained(frames: AsyncIterator[bytes], meter: Meter) -> bytes:
    """The relayed bytes; then the frames closed as the SSE response closes them, which
    writes the usage row."""
    metered = MeteredFrames(frames, meter)
    out = b"".join([frame async for frame in metered])
    await metered.aclose()
    return out


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
        return await drained(frames, meter)

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


def crlf(frames: bytes) -> bytes:
    return frames.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
@pytest.mark.parametrize("split", [None, 1, 7, -1])  # at a CR's heels, mid-line, ...
def test_crlf_and_cr_streams_are_relayed_whole_with_lf(ending: bytes, split: int | None) -> None:
    """sse-starlette (llama-cpp-python, Xinference) ends lines in CRLF; the usage chunk a
    client did not ask for is the only frame taken out."""
    body = (HELLO + USAGE + b"data: [DONE]\n\n").replace(b"\n", ending)
    chunks = [body] if split is None else [body[:split], body[split:]]
    out, rows = forward(ScriptedStream(chunks), trim=drop_unasked_usage)
    assert out == HELLO.replace(b'"model":"up"', b'"model":"m"') + b"data: [DONE]\n\n"
    [row] = rows.rows
    assert (row.input_tokens, row.output_tokens, row.status) == (11, 7, 200)


def test_a_leading_byte_order_mark_is_dropped() -> None:
    out, rows = forward(ScriptedStream([b"\xef\xbb\xbf" + HELLO, USAGE + b"data: [DONE]\n\n"]))
    assert out.startswith(b'data: {"id":"c1"') and b"Hello" in out
    assert rows.rows[0].status == 200


def test_a_last_event_without_its_blank_line_gets_one() -> None:
    """The relay's parser takes it at the end; a client's reader would drop it."""
    out, _ = forward(ScriptedStream([HELLO, USAGE + b"data: [DONE]"]))
    assert out.endswith(b"data: [DONE]\n\n")
    out, _ = forward(ScriptedStream([HELLO + b"data: [DONE]\n"]))
    assert out.endswith(b"data: [DONE]\n\n") and not out.endswith(b"\n\n\n")


def test_a_stream_with_event_ids_gets_no_heartbeats() -> None:
    """The openai SDK keeps the last event id, and reads a comment's blank line as an
    event with empty data, which it cannot decode."""
    renderer = _Boundary(Renderer())  # type: ignore[arg-type]
    renderer.inner.heartbeat = lambda: [b": keep-alive\n\n"]  # type: ignore[attr-defined]
    assert renderer.heartbeat() == [b": keep-alive\n\n"]
    ctx = RequestContext(model="m", key_id="k")
    upstream = route("openai", upstream="up", public="m")
    inner = OpenAIChatStreamRenderer(ChatRequest(model="m", messages=()), ctx)
    boundary = _Boundary(inner)
    meter = Meter(UsageRows(), ctx, upstream, stream=True)
    parser = OpenAIChatProvider().relay_parser(upstream, ctx)
    stream = ScriptedStream([b"id: 1\n" + HELLO, b"id: 2\n" + USAGE])

    async def collect() -> bytes:
        frames = _forward(stream, parser, boundary, None, meter, _Echo("up", "m", []))  # type: ignore[arg-type]
        return b"".join([frame async for frame in frames])

    asyncio.run(collect())
    assert boundary.ids and boundary.heartbeat() == []


def test_azures_nameless_first_chunk_does_not_hide_the_model() -> None:
    filters = (
        b'data: {"choices":[],"created":0,"id":"","model":"","object":"",'
        b'"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}\n\n'
    )
    out, _ = forward(ScriptedStream([filters, HELLO, USAGE]))
    assert b'"model":"up"' not in out and b'"model":"m"' in out


FINISH = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
)


@pytest.mark.parametrize("public", ["m", "up"])
@pytest.mark.parametrize("apart", [True, False])  # the cut piece in its own read, or not
def test_a_piece_cut_short_after_a_finished_stream_is_not_made_an_event(
    apart: bool, public: str
) -> None:
    chunks = [HELLO + FINISH + USAGE, PARTIAL] if apart else [HELLO + FINISH + USAGE + PARTIAL]
    out, rows = forward(ScriptedStream(chunks), public)
    assert out.endswith(b"\n\n") and PARTIAL not in out
    assert rows.rows[0].status == 200


@pytest.mark.parametrize("public", ["m", "up"])  # renamed (frames held) or passed through
def test_a_last_event_longer_than_a_read_is_ended_whole(public: str) -> None:
    last = USAGE.rstrip(b"\n")
    chunks = [HELLO + FINISH, last[:30], last[30:60], last[60:]]
    out, _ = forward(ScriptedStream(chunks), public)
    assert out.endswith(last.replace(b'"model":"up"', f'"model":"{public}"'.encode()) + b"\n\n")


def test_ids_are_found_past_a_first_comment_chunk() -> None:
    """OpenRouter opens with `: OPENROUTER PROCESSING`."""
    ctx = RequestContext(model="m", key_id="k")
    upstream = route("openai", upstream="up", public="m")
    inner = OpenAIChatStreamRenderer(ChatRequest(model="m", messages=()), ctx)
    boundary = _Boundary(inner)
    meter = Meter(UsageRows(), ctx, upstream, stream=True)
    parser = OpenAIChatProvider().relay_parser(upstream, ctx)
    stream = ScriptedStream([b": PROCESSING\n\n", b"id: 1\n" + HELLO, b"id: 2\n" + USAGE])

    async def collect() -> bytes:
        frames = _forward(stream, parser, boundary, None, meter, _Echo("up", "m", []))  # type: ignore[arg-type]
        return b"".join([frame async for frame in frames])

    asyncio.run(collect())
    assert boundary.ids and boundary.heartbeat() == []
