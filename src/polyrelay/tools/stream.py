"""The server-tool loop for streamed answers (see `polyrelay.tools.loop` for the rules).

Per round, every upstream event goes to a `StreamAccumulator` (the round's full answer, for
the next round's history and its usage) and, rewritten, to the client:

- MessageStart: only the first round's; UsageDelta / MessageStop: held back, one of each
  is sent at the very end (usage summed over the rounds, the last round's stop reason),
  and a UsageDelta of the rounds so far before each later round opens (UsageDelta is
  cumulative): the usage row of a stream that a later round fails, or that the client
  leaves, counts the rounds the upstream had served;
- a part calling the server tool is not forwarded: at its PartStop the client gets the
  `ServerToolCallPart` and the search starts; its `ServerToolResultPart` is sent when the
  search is done, before any later part starts (or when the round's stream ends);
- every other part is forwarded with its index renumbered; a text part gets
  CitationDeltas (for the results seen so far) just before its PartStop;
- StreamError is forwarded as is (the caller ends the client's stream with it), after a
  UsageDelta of the usage so far, the failed round's included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import assert_never

import msgspec

from polyrelay.ir import (
    ChatRequest,
    CitationDelta,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ServerToolCallPart,
    ServerToolResultPart,
    SignatureDelta,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)
from polyrelay.tools import ServerTool
from polyrelay.tools.loop import client_calls, follow_up, search_calls, with_searches

__all__ = ["stream_with_tool"]

Events = AsyncGenerator[StreamEvent, None]
Open = Callable[[ChatRequest], Awaitable[Events]]
_Pending = tuple[ToolCallPart, "asyncio.Task[ServerToolResultPart]"]
_Delta = TextDelta | ToolArgsDelta | ReasoningDelta | SignatureDelta | CitationDelta


class _Loop:
    def __init__(self, tool: ServerTool) -> None:
        self.tool = tool
        self.next = 0
        self.started = False
        self.results: list[ServerToolResultPart] = []
        self.usage = Usage()
        # Per round:
        self.acc = StreamAccumulator()
        self.index_map: dict[int, int] = {}
        self.intercepted: int | None = None
        self.pending: list[_Pending] = []
        self.pairs: list[tuple[ToolCallPart, ServerToolResultPart]] = []

    def new_round(self) -> None:
        self.acc = StreamAccumulator()
        self.index_map, self.intercepted = {}, None
        self.pending, self.pairs = [], []

    def _whole(self, part: ServerToolCallPart | ServerToolResultPart) -> list[StreamEvent]:
        index = self.next
        self.next += 1
        return [PartStart(index=index, part=part), PartStop(index=index)]

    async def flush(self) -> list[StreamEvent]:
        """The results of the searches started so far, in call order."""
        out: list[StreamEvent] = []
        for call, task in self.pending:
            result = await task
            self.results.append(result)
            self.pairs.append((call, result))
            out += self._whole(result)
        self.pending = []
        return out

    async def feed(self, event: StreamEvent) -> list[StreamEvent]:
        self.acc.feed(event)
        match event:
            case MessageStart():
                if self.started:
                    return []
                self.started = True
                return [event]
            case PartStart(part=ToolCallPart(name=name)) if name == self.tool.name:
                self.intercepted = event.index
                return []
            case PartStart():
                flushed = await self.flush()
                self.index_map[event.index] = self.next
                self.next += 1
                return [*flushed, PartStart(index=self.next - 1, part=event.part)]
            case PartStop():
                return self._stop(event)
            case UsageDelta() | MessageStop():
                return []
            case StreamError():
                return [event]
            case TextDelta() | ToolArgsDelta() | ReasoningDelta() | SignatureDelta():
                return self._delta(event)
            case CitationDelta():
                return self._delta(event)
            case _:
                assert_never(event)

    def _delta(self, event: _Delta) -> list[StreamEvent]:
        if event.index == self.intercepted:
            return []
        mapped = self.index_map.get(event.index, event.index)
        return [msgspec.structs.replace(event, index=mapped)]

    def _stop(self, event: PartStop) -> list[StreamEvent]:
        part = self.acc.last_part
        if event.index == self.intercepted:
            self.intercepted = None
            assert isinstance(part, ToolCallPart)
            server = self.tool.server_call(part)
            task = asyncio.ensure_future(self.tool.run(server))
            self.pending.append((part, task))
            return self._whole(server)
        index = self.index_map.get(event.index, event.index)
        out: list[StreamEvent] = []
        if isinstance(part, TextPart) and self.results:
            found = self.tool.citations(part.text, self.results)
            out += [CitationDelta(index=index, citation=c) for c in found]
        return [*out, PartStop(index=index)]

    def cancel(self) -> None:
        for _, task in self.pending:
            task.cancel()


async def stream_with_tool(
    first: Events, reopen: Open, request: ChatRequest, tool: ServerTool
) -> Events:
    """The client's event stream; `request` is the prepared request `first` answers, and
    `reopen(request)` opens the stream of each later round."""
    loop = _Loop(tool)
    source = first
    stop = StopReason.PAUSE_TURN
    sequence: str | None = None
    try:
        for round_no in range(tool.max_rounds):
            if round_no:
                loop.new_round()
                source = await reopen(request)
            async with contextlib.aclosing(source):
                async for event in source:
                    if isinstance(event, StreamError):
                        # With the usage so far, this round's included, for the meter.
                        so_far = with_searches(loop.usage + loop.acc.usage, tool)
                        if so_far != Usage():
                            yield UsageDelta(usage=so_far)
                        yield event
                        return
                    for out in await loop.feed(event):
                        yield out
            for out in await loop.flush():
                yield out
            response = loop.acc.result()
            loop.usage = loop.usage + response.usage
            if not search_calls(response.parts, tool):
                stop, sequence = response.stop_reason, response.stop_sequence
                break
            if client_calls(response.parts, tool):
                stop = StopReason.TOOL_USE
                break
            yield UsageDelta(usage=with_searches(loop.usage, tool))
            request = follow_up(request, response.parts, loop.pairs, tool)
        yield UsageDelta(usage=with_searches(loop.usage, tool))
        yield MessageStop(stop_reason=stop, stop_sequence=sequence)
    finally:
        loop.cancel()
