"""Paused turns continued for clients without `pause_turn`: the calls' events joined into
one stream in the IR grammar, and the calls bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from polyrelay.ir import (
    ChatRequest,
    Message,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    Role,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    Usage,
    UsageDelta,
)
from polyrelay.pipeline.paused import MAX_CONTINUATIONS, stream_paused

REQUEST = ChatRequest(model="m", messages=(Message(role=Role.USER, parts=(TextPart(text="q"),)),))


async def call(text: str, stop: StopReason) -> AsyncGenerator[StreamEvent, None]:
    for event in (
        MessageStart(id="msg", model="m", usage=Usage(input_tokens=3)),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text=text),
        PartStop(index=0),
        UsageDelta(usage=Usage(input_tokens=3, output_tokens=1)),
        MessageStop(stop_reason=stop),
    ):
        yield event


def run(stops: list[StopReason]) -> tuple[list[StreamEvent], list[ChatRequest]]:
    sent: list[ChatRequest] = []
    answers = iter(stops[1:])

    async def reopen(request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        sent.append(request)
        return call(f"t{len(sent)}", next(answers))

    async def collect() -> list[StreamEvent]:
        return [e async for e in stream_paused(call("t0", stops[0]), reopen, REQUEST)]

    return asyncio.run(collect()), sent


def test_the_calls_are_one_stream_with_parts_numbered_on() -> None:
    pause, end = StopReason.PAUSE_TURN, StopReason.END_TURN
    events, sent = run([pause, pause, end])
    accumulator = StreamAccumulator()
    for event in events:
        accumulator.feed(event)  # raises on a broken grammar (a part index out of order)
    result = accumulator.result()
    assert [p.text for p in result.parts] == ["t0", "t1", "t2"]  # type: ignore[union-attr]
    assert result.stop_reason is end
    assert result.usage == Usage(input_tokens=9, output_tokens=3)
    assert sum(isinstance(e, MessageStart) for e in events) == 1
    assert [len(r.messages) for r in sent] == [2, 2]
    assert [len(r.messages[-1].parts) for r in sent] == [1, 2]  # the turn so far, each time


def test_a_turn_that_keeps_pausing_ends_paused_after_the_last_continuation() -> None:
    events, sent = run([StopReason.PAUSE_TURN] * (MAX_CONTINUATIONS + 2))
    assert len(sent) == MAX_CONTINUATIONS
    assert events[-1] == MessageStop(stop_reason=StopReason.PAUSE_TURN)


def test_an_error_ends_the_stream_there() -> None:
    async def broken() -> AsyncGenerator[StreamEvent, None]:
        yield MessageStart(id="msg", model="m")
        yield StreamError(status=502, kind="api_error", message="cut")

    async def reopen(request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        raise AssertionError("not continued")

    async def collect() -> list[StreamEvent]:
        return [e async for e in stream_paused(broken(), reopen, REQUEST)]

    events = asyncio.run(collect())
    assert isinstance(events[-1], StreamError)
