"""Streaming: upstream bytes → StreamParser → IR events → StreamRenderer → client frames.

One parser per upstream stream (several when `n` choices are served by parallel calls);
one renderer for the client. A StreamError event or a transport failure ends the client
stream with the renderer's in-band error frames (FailedFrames), never a silent
truncation; one before the stream's first frames is the client's HTTP error instead
(SSEResponse). Cancellation (the client went away) closes every upstream stream,
which drops the upstream connections. With a server tool the gateway runs (web search),
the events come from the tool loop (polyrelay.tools.stream), which opens one upstream
stream per round.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterator

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UnsupportedError, UpstreamError, internal_error
from polyrelay.frontends import StreamRenderer
from polyrelay.ir import ChatRequest, MessageStart, StreamError, StreamEvent, TextDelta, UsageDelta
from polyrelay.ir.tool_ids import outgoing_event
from polyrelay.pipeline.calls import choice_count, client_events, open_streams
from polyrelay.pipeline.metering import Meter
from polyrelay.pipeline.paused import may_pause, stream_paused
from polyrelay.pipeline.sse_response import FailedFrames, FinalFrames
from polyrelay.providers import Provider, Route
from polyrelay.providers.transport import UpstreamClient, UpstreamStream
from polyrelay.tools.loop import prepare_request
from polyrelay.tools.stream import stream_with_tool
from polyrelay.tools.web_search import WebSearchRuntime

__all__ = ["open_stream", "render_streams"]

log = logging.getLogger("polyrelay.streams")

_DONE = object()


class _Failed(Exception):
    """A StreamError event: `frames` are those rendered from the events before it, and
    `content` whether any of those was content (not just the message's start)."""

    def __init__(self, error: GatewayError, frames: bytes = b"", content: bool = False) -> None:
        self.error = error
        self.frames = frames
        self.content = content


_PREAMBLE = (MessageStart, UsageDelta)
"""Events that say no content: an error after only these failed before any content."""


def _has_content(events: list[StreamEvent], error: StreamError | None = None) -> bool:
    """Whether `events` (those before `error`) hold any content."""
    before = itertools.takewhile(lambda event: event is not error, events)
    return any(not isinstance(event, _PREAMBLE) for event in before)


class _Tail:
    """The frames that leave with the end of the response, and whether they hold content."""

    __slots__ = ("content", "frames")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.content = False

    def add(self, frames: bytes, events: list[StreamEvent]) -> None:
        self.frames.append(frames)
        self.content = self.content or _has_content(events)


def _render(
    events: list[StreamEvent], renderer: StreamRenderer, meter: Meter, choice: int
) -> bytes:
    out: list[bytes] = []
    texts: list[TextDelta] = []  # a run of the hot event, rendered in one call
    for event in events:
        if type(event) is TextDelta:  # no tool id, no usage, no error
            texts.append(event)
            continue
        if texts:
            out += renderer.feed_texts(texts, choice)
            texts = []
        if isinstance(event, StreamError):
            error = UpstreamError(event.message, status=event.status, kind=event.kind)
            raise _Failed(error, b"".join(out), _has_content(events, event))
        meter.see(event, choice)
        out += renderer.feed(outgoing_event(event), choice)
    if texts:
        out += renderer.feed_texts(texts, choice)
    return b"".join(out)


async def _pump_one(
    stream: UpstreamStream,
    provider: Provider,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
    meter: Meter,
    choice: int,
    tail: _Tail | None = None,
) -> AsyncIterator[bytes]:
    """The frames of one upstream stream. With `tail`, the frames of the chunk that ends
    the upstream stream (known without waiting: its end arrived with it) and of the
    parser's finish go there instead, to leave with the end of the response in one send;
    nothing is held while more may come."""
    parser = provider.stream_parser(route, ctx)
    async for chunk in stream.chunks():
        events = client_events(parser.feed(chunk), ctx)
        frames = _render(events, renderer, meter, choice)
        if tail is not None and stream.at_eof():
            tail.add(frames, events)
        elif frames:
            yield frames
    events = client_events(parser.finish(), ctx)
    frames = _render(events, renderer, meter, choice)
    if tail is not None:
        tail.add(frames, events)
    elif frames:
        yield frames


async def render_streams(
    streams: list[UpstreamStream],
    provider: Provider,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
    meter: Meter,
) -> AsyncIterator[bytes]:
    # Frames that go out with the end (one stream only), joined once: the final send is
    # the whole response when the upstream's answer came in one read.
    tail = _Tail()
    try:
        if len(streams) == 1:
            source = _pump_one(streams[0], provider, route, ctx, renderer, meter, 0, tail)
        else:
            source = _merge(streams, provider, route, ctx, renderer, meter)
        async for frames in source:
            yield frames
        yield FinalFrames(b"".join([*tail.frames, *renderer.finish()]))
    except _Failed as failed:
        meter.fail(failed.error.status)
        frames = b"".join([*tail.frames, failed.frames, *renderer.fail(failed.error)])
        yield _failed_frames(frames, failed, content=failed.content or tail.content)
    except GatewayError as error:
        meter.fail(error.status)
        yield FailedFrames(b"".join([*tail.frames, *renderer.fail(error)]), error)
    except Exception:  # a bug: the client still gets an error frame, not a cut stream
        log.exception("the stream failed")
        meter.fail(500)
        bug = internal_error()
        yield FailedFrames(b"".join([*tail.frames, *renderer.fail(bug)]), bug)
    finally:
        for stream in streams:
            stream.close()


def _failed_frames(frames: bytes, failed: _Failed, *, content: bool) -> FinalFrames:
    """The end of a stream that failed: FailedFrames, which the SSE response may answer
    with the HTTP error instead if nothing went out before them, unless content came
    in the same read as the error (a client must not lose what the upstream said)."""
    return FinalFrames(frames) if content else FailedFrames(frames, failed.error)


async def _merge(
    streams: list[UpstreamStream],
    provider: Provider,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
    meter: Meter,
) -> AsyncIterator[bytes]:
    """Interleave the choices' frames in arrival order (n > 1 by parallel calls)."""
    # Bounded, so a client that stops reading stops the upstream reads as one stream's does;
    # unbounded, the pumps drained every upstream into it (n x max_tokens held per request).
    queue: asyncio.Queue[bytes | BaseException | object] = asyncio.Queue(len(streams))

    async def pump(choice: int, stream: UpstreamStream) -> None:
        try:
            async for frames in _pump_one(stream, provider, route, ctx, renderer, meter, choice):
                await queue.put(frames)
            end: object = _DONE
        except asyncio.CancelledError:
            raise  # the consumer is gone (it cancels the pumps): nobody reads the queue
        except BaseException as exc:  # handed to the consumer, which re-raises it
            end = exc
        await queue.put(end)

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


async def open_stream(
    client: UpstreamClient,
    provider: Provider,
    chat: ChatRequest,
    route: Route,
    ctx: RequestContext,
    renderer: StreamRenderer,
    meter: Meter,
    server_tools: WebSearchRuntime | None = None,
    client_protocol: str = "",
) -> AsyncIterator[bytes]:
    """The client's frames, by `renderer`. The first upstream stream is open (and its status
    checked) when this returns, so an upstream error still gets its own HTTP status.
    `client_protocol` (the frontend's name) tells whether paused turns are continued."""
    tool = server_tools.tool_for(chat, provider.capabilities, ctx) if server_tools else None
    single = choice_count(chat, provider) == 1
    if tool is None:
        if single and may_pause(chat, provider, client_protocol):
            reopen = _Reopen(client, provider, route, ctx)
            events = stream_paused(await reopen(chat), reopen, chat)
            return _render_events(events, renderer, meter)
        streams = await open_streams(client, provider, chat, route, ctx)
        return render_streams(streams, provider, route, ctx, renderer, meter)
    if not single:
        raise UnsupportedError("n > 1 cannot be streamed with web search", param="n")
    prepared = prepare_request(chat, tool)
    reopen = _Reopen(client, provider, route, ctx)
    events = stream_with_tool(await reopen(prepared), reopen, prepared, tool)
    return _render_events(events, renderer, meter)


class _Reopen:
    """Opens one upstream stream of `request` and gives its IR events (a later round of
    the tool loop, a paused turn continued)."""

    def __init__(
        self, client: UpstreamClient, provider: Provider, route: Route, ctx: RequestContext
    ) -> None:
        self.client, self.provider, self.route, self.ctx = client, provider, route, ctx

    async def __call__(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        [stream] = await open_streams(self.client, self.provider, request, self.route, self.ctx)
        return _events(stream, self.provider, self.route, self.ctx)


async def _events(
    stream: UpstreamStream, provider: Provider, route: Route, ctx: RequestContext
) -> AsyncGenerator[StreamEvent, None]:
    parser = provider.stream_parser(route, ctx)
    try:
        async for chunk in stream.chunks():
            for event in client_events(parser.feed(chunk), ctx):
                yield event
        for event in client_events(parser.finish(), ctx):
            yield event
    finally:
        stream.close()


async def _render_events(
    events: AsyncGenerator[StreamEvent, None], renderer: StreamRenderer, meter: Meter
) -> AsyncIterator[bytes]:
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                frames = _render([event], renderer, meter, 0)
                if frames:
                    yield frames
        yield FinalFrames(b"".join(renderer.finish()))
    except _Failed as failed:
        meter.fail(failed.error.status)
        frames = failed.frames + b"".join(renderer.fail(failed.error))
        yield _failed_frames(frames, failed, content=failed.content)
    except GatewayError as error:
        meter.fail(error.status)
        yield FailedFrames(b"".join(renderer.fail(error)), error)
    except Exception:
        log.exception("the stream failed")
        meter.fail(500)
        bug = internal_error()
        yield FailedFrames(b"".join(renderer.fail(bug)), bug)
