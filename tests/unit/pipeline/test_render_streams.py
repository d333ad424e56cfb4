"""render_streams over a scripted upstream stream: what the client gets when the upstream
ends, breaks off or reports an error in the middle of a chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.unit.builders import UsageRows, route

from polyrelay.context import RequestContext
from polyrelay.frontends.openai_chat.stream import OpenAIChatStreamRenderer
from polyrelay.ir import ChatRequest
from polyrelay.pipeline.metering import Meter
from polyrelay.pipeline.sse_response import FinalFrames
from polyrelay.pipeline.streaming import render_streams
from polyrelay.providers.anthropic import AnthropicProvider


class ScriptedStream:
    """Chunks as an upstream sends them; `ended_with` is the index of the chunk that
    arrives together with the end of the body."""

    def __init__(self, chunks: list[bytes], ended_with: int | None = None) -> None:
        self._chunks = chunks
        self._ended_with = len(chunks) - 1 if ended_with is None else ended_with
        self._taken = 0
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self._taken += 1
            yield chunk

    def at_eof(self) -> bool:
        return self._taken > self._ended_with

    def close(self) -> None:
        self.closed = True


def event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


START = event(
    "message_start",
    '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    '"model":"up","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":0}}}',
)
TEXT = event(
    "content_block_start",
    '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
) + event(
    "content_block_delta",
    '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello"}}',
)
END = (
    event("content_block_stop", '{"type":"content_block_stop","index":0}')
    + event(
        "message_delta",
        '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}',
    )
    + event("message_stop", '{"type":"message_stop"}')
)
ERROR = event(
    "error", '{"type":"error","error":{"type":"overloaded_error","message":"busy upstream"}}'
)


def run(stream: ScriptedStream) -> list[bytes]:
    ctx = RequestContext(model="m", key_id="k")
    upstream = route("anthropic", upstream="up")
    renderer = OpenAIChatStreamRenderer(ChatRequest(model="m", messages=()), ctx)
    meter = Meter(UsageRows(), ctx, upstream, stream=True)

    async def collect() -> list[bytes]:
        frames = render_streams(
            [stream],  # type: ignore[list-item]
            AnthropicProvider(),
            upstream,
            ctx,
            renderer,
            meter,
        )
        return [frame async for frame in frames]

    return asyncio.run(collect())


def test_the_chunk_that_ends_the_upstream_goes_out_with_the_end() -> None:
    frames = run(ScriptedStream([START + TEXT, END]))
    assert len(frames) == 2
    assert b'"content":"hello"' in frames[0] and type(frames[0]) is not FinalFrames
    assert type(frames[1]) is FinalFrames
    assert b'"finish_reason":"stop"' in frames[1] and frames[1].endswith(b"data: [DONE]\n\n")


def test_nothing_is_held_while_the_upstream_is_open() -> None:
    # The last content chunk has not brought the end with it: it goes out on its own.
    frames = run(ScriptedStream([START + TEXT, END, b""], ended_with=2))
    assert [type(f) is FinalFrames for f in frames] == [False, False, True]


def test_frames_before_an_in_band_error_in_the_same_chunk_are_kept() -> None:
    [final] = run(ScriptedStream([START + TEXT + ERROR]))
    assert type(final) is FinalFrames
    hello, busy = final.index(b'"content":"hello"'), final.index(b"busy upstream")
    assert hello < busy


def test_an_upstream_that_breaks_off_ends_in_an_error() -> None:
    frames = run(ScriptedStream([START + TEXT]))
    assert b'"content":"hello"' in b"".join(frames)
    assert b"error" in frames[-1] and type(frames[-1]) is FinalFrames


class FailingStream(ScriptedStream):
    """Breaks with an exception no layer expects (a bug) after its first chunk."""

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._chunks[0]
        raise RuntimeError("a bug in the gateway")


def test_a_fault_mid_stream_ends_in_an_error_frame_not_a_cut(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = FailingStream([START + TEXT])
    frames = run(stream)
    assert b'"content":"hello"' in frames[0]
    assert isinstance(frames[-1], FinalFrames)  # FailedFrames: its error is known
    assert frames[-1].startswith(b'data: {"error":{"message":"The gateway hit an internal error')
    assert stream.closed
    assert "a bug in the gateway" in caplog.text


class EndlessStream(ScriptedStream):
    """An upstream that keeps answering (up to `most` chunks), one event-loop turn per
    chunk as a socket gives them; counts the chunks taken from it."""

    def __init__(self, most: int) -> None:
        super().__init__([START])
        self._most = most

    async def chunks(self) -> AsyncIterator[bytes]:
        yield START + TEXT
        self._taken = 1
        while self._taken < self._most:
            await asyncio.sleep(0)
            self._taken += 1
            yield TEXT.split(b"\n\n", 1)[1]  # one more content_block_delta

    @property
    def taken(self) -> int:
        return self._taken


def test_parallel_choices_are_not_read_ahead_of_a_client_that_stops_reading() -> None:
    """n > 1 by parallel calls: the choices' frames go through one queue; a client that
    reads one frame and then nothing must stop the upstream reads, as with one stream."""
    streams = [EndlessStream(5_000), EndlessStream(5_000)]
    ctx = RequestContext(model="m", key_id="k")
    upstream = route("anthropic", upstream="up")
    renderer = OpenAIChatStreamRenderer(ChatRequest(model="m", messages=(), n=2), ctx)
    meter = Meter(UsageRows(), ctx, upstream, stream=True)

    async def read_one_then_stall() -> None:
        frames = render_streams(
            streams,  # type: ignore[arg-type]
            AnthropicProvider(),
            upstream,
            ctx,
            renderer,
            meter,
        )
        assert b'"content":"hello"' in await anext(frames)
        for _ in range(2_000):  # event-loop turns in which the client reads nothing
            await asyncio.sleep(0)
        await frames.aclose()
        for _ in range(10):  # the pumps, waiting on the full queue, are cancelled
            await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(read_one_then_stall())
    assert all(stream.taken < 10 for stream in streams), [s.taken for s in streams]
    assert all(stream.closed for stream in streams)
