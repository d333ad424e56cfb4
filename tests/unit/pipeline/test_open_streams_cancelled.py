"""open_streams cancelled (its client gone) while `n` parallel calls open their streams:
the streams already open are closed, which drops their upstream connections, instead of
being lost with the gather's results and left to run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.ir import ChatRequest, Message, Role, TextPart
from polyrelay.pipeline.calls import open_streams
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.transport import UpstreamStream


class Opened:
    """What UpstreamStream wraps: an answer's status and headers, and whether it closed."""

    status = 200
    headers: dict[str, str] = {"content-type": "text/event-stream"}

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class HalfOpening:
    """The first call's stream opens at once; every other call never answers."""

    def __init__(self) -> None:
        self.opened: list[Opened] = []

    async def open(self, request: Any, provider: Any) -> UpstreamStream:
        if self.opened:
            await asyncio.Event().wait()
        self.opened.append(Opened())
        return UpstreamStream(self.opened[-1], "https://upstream.test")  # type: ignore[arg-type]


def test_the_streams_open_when_cancelled_are_closed() -> None:
    client = HalfOpening()
    chat = ChatRequest(
        model="m", messages=(Message(role=Role.USER, parts=(TextPart(text="hi"),)),), n=2
    )
    opening = open_streams(
        client,  # type: ignore[arg-type]
        AnthropicProvider(),  # no `n` of its own: two calls
        chat,
        route("anthropic", max_output_tokens=100),
        RequestContext(model="m"),
    )

    async def cancel_while_opening() -> None:
        task = asyncio.ensure_future(opening)
        while not client.opened:
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)  # the second call is waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_opening())
    [first] = client.opened
    assert first.closed
