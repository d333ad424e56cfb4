"""Continuing a paused turn for clients whose protocol has no `pause_turn`.

Anthropic stops a long turn of its own server tools (web search) with `pause_turn`; the
client is meant to send the answer back as it is so that the model goes on. A Messages
client does that itself. A Chat or Responses client has no such stop reason and would
take the half-done answer for the whole one, so the gateway goes on for it
(translation.md §7): the request again with the paused assistant content appended, until
the model stops for another reason or `MAX_CONTINUATIONS` calls later. The client gets one
answer: every call's parts in order, the usage summed, the last call's stop reason.

Streamed, the calls' events become one stream in the IR grammar: the first MessageStart,
part indexes numbered on across calls, one MessageStop at the end, and a UsageDelta (the
usage so far) before each later call as well as at the end. A later call that fails keeps
the earlier calls' usage: on its error (GatewayError.usage), or in the stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

import msgspec

from polyrelay.errors import GatewayError
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    MessageStart,
    MessageStop,
    Part,
    Role,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    Usage,
    UsageDelta,
)
from polyrelay.providers import Provider

__all__ = ["MAX_CONTINUATIONS", "complete_paused", "may_pause", "stream_paused"]

MAX_CONTINUATIONS = 5
"""Calls after the first: each one is a full upstream call, and a turn that pauses this
often is better ended (the client sees it stop) than continued for ever."""

Events = AsyncGenerator[StreamEvent, None]


def may_pause(request: ChatRequest, provider: Provider, client_protocol: str) -> bool:
    """Whether the gateway continues paused turns of this request: Anthropic's web search
    for a client of another protocol."""
    return (
        provider.type == "anthropic"
        and client_protocol != "anthropic"
        and request.web_search is not None
    )


def continued(request: ChatRequest, parts: list[Part]) -> ChatRequest:
    """The request again, with the paused assistant turn so far appended, as Anthropic
    asks to continue it."""
    assistant = Message(role=Role.ASSISTANT, parts=tuple(parts))
    return msgspec.structs.replace(request, messages=(*request.messages, assistant))


async def complete_paused(
    call: Callable[[ChatRequest], Awaitable[ChatResponse]], request: ChatRequest
) -> ChatResponse:
    response = await call(request)
    parts, usage = list(response.parts), response.usage
    for _ in range(MAX_CONTINUATIONS):
        if response.stop_reason is not StopReason.PAUSE_TURN:
            break
        try:
            response = await call(continued(request, parts))
        except GatewayError as error:  # the calls before it were billed all the same
            error.add_usage(usage)
            raise
        parts += response.parts
        usage = usage + response.usage
    return msgspec.structs.replace(response, parts=tuple(parts), usage=usage)


async def stream_paused(
    first: Events, reopen: Callable[[ChatRequest], Awaitable[Events]], request: ChatRequest
) -> Events:
    """The client's events; `first` answers `request`, `reopen` opens each later call."""
    parts: list[Part] = []
    usage = Usage()
    source, calls = first, 0
    while True:
        accumulator = StreamAccumulator()
        offset = len(parts)
        async with contextlib.aclosing(source):
            async for event in source:
                if isinstance(event, StreamError):
                    so_far = usage + accumulator.usage  # this call's included, for the meter
                    if so_far != Usage():
                        yield UsageDelta(usage=so_far)
                    yield event
                    return
                accumulator.feed(event)
                renumbered = _renumbered(event, offset, first_call=calls == 0)
                if renumbered is not None:
                    yield renumbered
        response = accumulator.result()
        parts += response.parts
        usage = usage + response.usage
        if response.stop_reason is not StopReason.PAUSE_TURN or calls == MAX_CONTINUATIONS:
            break
        calls += 1
        yield UsageDelta(usage=usage)  # so far: counted if a later call fails or is left
        source = await reopen(continued(request, parts))
    yield UsageDelta(usage=usage)
    yield MessageStop(stop_reason=response.stop_reason, stop_sequence=response.stop_sequence)


def _renumbered(event: StreamEvent, offset: int, *, first_call: bool) -> StreamEvent | None:
    """The event as the joined stream carries it; None for what waits for the end (usage,
    the stop) or was said already (a later call's MessageStart)."""
    if isinstance(event, UsageDelta | MessageStop):
        return None
    if isinstance(event, MessageStart):
        return event if first_call else None
    index: int | None = getattr(event, "index", None)
    if index is None or offset == 0:
        return event
    return msgspec.structs.replace(event, index=index + offset)
