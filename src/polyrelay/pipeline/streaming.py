"""Streaming: upstream bytes → StreamParser → IR events → StreamRenderer → client frames.

One parser per upstream stream (several when `n` choices are served by parallel calls);
one renderer for the client. A StreamError event or a transport failure after the
headers went out ends the client stream with the renderer's in-band error frames, never
a silent truncation. Cancellation (the client went away) closes every upstream stream,
which drops the upstream connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamError
from polyrelay.frontends import StreamRenderer
from polyrelay.ir import StreamError, StreamEvent
from polyrelay.providers import Provider, Route
from polyrelay.providers.transport import UpstreamStream

__all__ = ["render_streams"]

_DONE = object()


class _Failed(Exception):
    def __init__(self, error: GatewayError) -> None:
        self.error = error


def _render(events: list[StreamEvent], renderer: StreamRenderer, choice: int) -> bytes:
    out: list[bytes] = []
    for event in events:
        if isinstance(event, StreamError):
            raise _Failed(UpstreamError(event.message, status=event.status, kind=event.kind))
        out.extend(renderer.feed(event, choice))
    return b"".join(out)


async def _pump_one(
    stream: UpstreamStream,
    provider: Provider,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
    choice: int,
) -> AsyncIterator[bytes]:
    parser = provider.stream_parser(route, ctx)
    async for chunk in stream.chunks():
        frames = _render(parser.feed(chunk), renderer, choice)
        if frames:
            yield frames
    frames = _render(parser.finish(), renderer, choice)
    if frames:
        yield frames


async def render_streams(
    streams: list[UpstreamStream],
    provider: Provider,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
) -> AsyncIterator[bytes]:
    try:
        if len(streams) == 1:
            source = _pump_one(streams[0], provider, route, ctx, renderer, 0)
        else:
            source = _merge(streams, provider, route, ctx, renderer)
        async for frames in source:
            yield frames
        yield b"".join(renderer.finish())
    except _Failed as failed:
        yield b"".join(renderer.fail(failed.error))
    except GatewayError as error:
        yield b"".join(renderer.fail(error))
    finally:
        for stream in streams:
            stream.close()


async def _merge(
    streams: list[UpstreamStream],
    provider: Provider,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
) -> AsyncIterator[bytes]:
    """Interleave the choices' frames in arrival order (n > 1 by parallel calls)."""
    queue: asyncio.Queue[bytes | BaseException | object] = asyncio.Queue()

    async def pump(choice: int, stream: UpstreamStream) -> None:
        try:
            async for frames in _pump_one(stream, provider, route, ctx, renderer, choice):
                queue.put_nowait(frames)
            queue.put_nowait(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait(exc)

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            elif isinstance(item, bytes):
                yield item
    finally:
        for task in tasks:
            task.cancel()
