"""SSEResponse as a plain ASGI app with a fake server: frames in order, heartbeats only
during silence (after the first frame, never while a send is pending), a client
disconnect that ends the stream and closes its source, and the one end the request log
is told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response

from polyrelay.errors import RateLimitError
from polyrelay.pipeline.sse_response import FailedFrames, SSEResponse

BEAT = b": keep-alive\n\n"


class FakeServer:
    def __init__(self, disconnect_after: float | None = None) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.disconnect_after = disconnect_after
        self.start = 0.0

    async def receive(self) -> dict[str, Any]:
        if self.disconnect_after is None:
            await asyncio.Event().wait()  # never: the client stays
        await asyncio.sleep(self.disconnect_after or 0)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append((asyncio.get_running_loop().time() - self.start, message))

    def bodies(self) -> list[bytes]:
        return [m["body"] for _, m in self.sent if m["type"] == "http.response.body"]

    async def run(self, response: SSEResponse) -> None:
        self.start = asyncio.get_running_loop().time()
        scope = {"type": "http", "method": "POST", "path": "/"}
        await response(scope, self.receive, self.send)


class FakeMeter:
    """A stream's meter (StreamMeter): what it is told, in order, into `told`, and the
    status `outcome` gives."""

    def __init__(
        self, outcome: Callable[[], int] = lambda: 200, told: list[object] | None = None
    ) -> None:
        self._outcome = outcome
        self.told: list[object] = [] if told is None else told

    def abandon(self) -> None:
        self.told.append("abandoned")

    def outcome(self) -> int:
        return self._outcome()

    def fail(self, status: int) -> None:
        self.told.append(status)


def _response(frames: AsyncIterator[bytes], keepalive: float) -> SSEResponse:
    return SSEResponse(frames, {"x-request-id": "r1"}, heartbeat=lambda: BEAT, keepalive=keepalive)


async def _paced(gaps: list[float], closed: list[bool]) -> AsyncIterator[bytes]:
    try:
        for number, gap in enumerate(gaps):
            await asyncio.sleep(gap)
            yield b"data: %d\n\n" % number
    finally:
        closed.append(True)


def test_frames_then_end_without_heartbeats_when_not_silent() -> None:
    server, closed = FakeServer(), []
    asyncio.run(server.run(_response(_paced([0, 0, 0], closed), keepalive=0.05)))
    start = server.sent[0][1]
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"x-request-id"] == b"r1"
    assert server.bodies() == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
    assert server.sent[-1][1]["more_body"] is False
    assert closed == [True]


def test_heartbeats_fill_silence_between_frames_only() -> None:
    server, closed = FakeServer(), []
    # Silent 0.3 s before the first frame (no heartbeat yet), then 0.35 s between frames.
    asyncio.run(server.run(_response(_paced([0.3, 0.35, 0.0], closed), keepalive=0.1)))
    bodies = server.bodies()
    first = bodies.index(b"data: 0\n\n")
    assert first == 0, "no heartbeat before the stream's first frame"
    between = bodies[first + 1 : bodies.index(b"data: 1\n\n")]
    assert 2 <= len(between) <= 4 and set(between) == {BEAT}
    assert bodies[-3:] == [b"data: 1\n\n", b"data: 2\n\n", b""]


def test_keepalive_zero_sends_no_heartbeat() -> None:
    server, closed = FakeServer(), []
    asyncio.run(server.run(_response(_paced([0, 0.3, 0], closed), keepalive=0)))
    assert BEAT not in server.bodies()


def test_disconnect_ends_the_stream_and_closes_the_source() -> None:
    server, closed = FakeServer(disconnect_after=0.1), []
    gaps = [0.0] + [0.2] * 50  # ten seconds of frames if nobody stopped it

    async def run() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.run(_response(_paced(gaps, closed), keepalive=10))
        return loop.time() - started

    elapsed = asyncio.run(run())
    assert elapsed < 1.0
    assert closed == [True]
    assert server.sent[-1][1].get("more_body") is True  # no end frame to a gone client


def _ending(response: SSEResponse, closed: list[bool]) -> list[tuple[int, bool, bool]]:
    """What `ended` is told: (status, whether the head went out, whether the frames were
    closed by then), each time."""
    told: list[tuple[int, bool, bool]] = []
    response.ended = lambda status, head: told.append((status, head is not None, bool(closed)))
    return told


def test_the_end_is_told_once_with_the_outcome_after_the_frames_closed() -> None:
    """The outcome (the meter's, an in-band error's status here) is asked once the frames
    are closed, which settles the meter."""
    server, closed = FakeServer(), []
    response = _response(_paced([0, 0.05], closed), keepalive=0)
    response.meter = FakeMeter(lambda: 529 if closed else 200)
    told = _ending(response, closed)
    asyncio.run(server.run(response))
    assert told == [(529, True, True)]


def test_a_client_gone_mid_stream_is_told_499() -> None:
    server, closed = FakeServer(disconnect_after=0.1), []
    response = _response(_paced([0.0] + [0.2] * 50, closed), keepalive=10)
    response.meter = meter = FakeMeter()
    told = _ending(response, closed)
    asyncio.run(server.run(response))
    assert told == [(499, True, True)]
    assert meter.told == ["abandoned"]


def _refused() -> SSEResponse:
    async def failed() -> AsyncIterator[bytes]:
        yield FailedFrames(b"event: error\n\n", RateLimitError("busy"))

    return SSEResponse(
        failed(),
        {},
        heartbeat=lambda: b"",
        keepalive=0,
        meter=FakeMeter(),
        refuse=lambda error: Response(b"{}", error.status),
    )


def test_a_refused_stream_is_told_its_refusal_without_a_head() -> None:
    response = _refused()
    told = _ending(response, [True])
    asyncio.run(FakeServer().run(response))
    assert told == [(429, False, True)]


def test_a_failure_in_the_log_breaks_neither_a_stream_nor_its_refusal() -> None:
    """`ended` runs before a refusal is sent: when it raised, the refusal never went out
    (the server answered 500 instead of the 429 the SDK retries)."""

    def broken(status: int, head: float | None) -> None:
        raise RuntimeError("the log is broken")

    server = FakeServer()
    response = _refused()
    response.ended = broken
    asyncio.run(server.run(response))
    assert server.sent[0][1]["status"] == 429
    server, closed = FakeServer(), []
    response = _response(_paced([0, 0], closed), keepalive=0)
    response.ended = broken
    asyncio.run(server.run(response))  # no exception out of a stream that went well
    assert server.bodies()[-1] == b"" and closed == [True]


def test_a_stream_that_raised_after_its_head_is_told_500_not_its_outcome() -> None:
    async def raising() -> AsyncIterator[bytes]:
        yield b"data: 0\n\n"
        raise RuntimeError("a bug mid-stream")

    response = _response(raising(), keepalive=0)
    response.meter = FakeMeter(lambda: 200)  # the meter knew of no error
    told = _ending(response, [True])
    try:
        asyncio.run(FakeServer().run(response))
    except RuntimeError:
        pass
    assert told == [(500, True, True)]


def test_a_stream_that_raised_tells_its_meter_500_before_its_frames_close() -> None:
    """The row says what the log line says: `fail(500)` comes before `aclose`, which
    settles the meter (MeteredFrames; it used to settle 200 for a stream the gateway
    broke off)."""
    order: list[object] = []

    class Frames:
        sent = False

        def __aiter__(self) -> Frames:
            return self

        async def __anext__(self) -> bytes:
            if self.sent:
                raise RuntimeError("a bug mid-stream")
            self.sent = True
            return b"data: 0\n\n"

        async def aclose(self) -> None:
            order.append("closed")

    response = _response(Frames(), keepalive=0)
    response.meter = FakeMeter(told=order)
    try:
        asyncio.run(FakeServer().run(response))
    except RuntimeError:
        pass
    assert order == [500, "closed"]
