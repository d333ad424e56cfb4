"""A Responses WebSocket turn whose socket closes under a send: the client left before the
end, so the stream's meter is told (499), whichever notices first, the receive loop (it
cancels the turn) or the send. The send noticing first settled the row as 200, which a
full run met under load (test_usage_cancelled's WebSocket case)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from polyrelay.context import RequestContext
from polyrelay.pipeline.sse_response import SSEResponse
from polyrelay.web import responses_ws


class _Meter:
    """The stream's meter (StreamMeter): how many times it heard the client left."""

    def __init__(self) -> None:
        self.gone = 0

    def abandon(self) -> None:
        self.gone += 1

    def outcome(self) -> int:
        return 200

    def fail(self, status: int) -> None:
        raise AssertionError(f"the stream did not raise, yet was told {status}")


class _Closing:
    def __init__(self) -> None:
        self.closed = False

        async def frames() -> AsyncIterator[bytes]:
            yield b'event: response.created\ndata: {"type":"response.created"}\n\n'
            yield b'event: response.output_text.delta\ndata: {"type":"x"}\n\n'

        self._source = frames()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._source

    async def aclose(self) -> None:
        self.closed = True


class _ClosedSocket:
    async def send_text(self, text: str) -> None:
        raise OSError("client disconnected")


class _Gateway:
    def __init__(self, reply: SSEResponse) -> None:
        self.reply = reply

    async def dispatch(self, *args: Any) -> SSEResponse:
        return self.reply


def test_a_send_into_a_closed_socket_tells_the_meter_the_client_left() -> None:
    frames, meter = _Closing(), _Meter()
    reply = SSEResponse(frames, {}, heartbeat=lambda: b"", keepalive=0, meter=meter)
    connection: Any = object.__new__(responses_ws._Connection)
    connection.gateway = _Gateway(reply)
    connection.frontend = connection.key = None
    connection.headers = {}
    connection.websocket = _ClosedSocket()
    job = responses_ws._Job(b"{}", None, True)

    async def run() -> None:
        connection.sending = asyncio.Lock()
        await connection.stream(job, RequestContext())

    with pytest.raises(responses_ws._Gone):
        asyncio.run(run())
    assert (meter.gone, frames.closed) == (1, True)
