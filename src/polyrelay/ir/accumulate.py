"""StreamAccumulator: folds any IR event stream into a ChatResponse.

Used for non-streaming clients of streaming upstreams, for usage accounting, and in
tests as the oracle: folding a provider's stream must equal parsing its non-streaming
response. Out-of-order events raise StreamProtocolError.
"""

from __future__ import annotations

from typing import assert_never

import msgspec

from polyrelay.errors import UpstreamError
from polyrelay.ir.content import (
    Citation,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    TextPart,
    TokenLogprob,
    ToolCallPart,
)
from polyrelay.ir.events import (
    CitationDelta,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    UsageDelta,
)
from polyrelay.ir.response import ChatResponse, StopReason, Usage

__all__ = ["StreamAccumulator", "StreamProtocolError"]


class StreamProtocolError(Exception):
    """An event arrived where the grammar in ir/events.py does not allow it."""


class _OpenPart:
    """A part being filled in; text pieces are joined once at PartStop."""

    __slots__ = ("citations", "logprobs", "pieces", "shell", "signature")

    def __init__(self, shell: Part) -> None:
        self.shell = shell
        self.pieces: list[str] = []
        self.signature: str | None = None
        self.citations: list[Citation] = []
        self.logprobs: list[TokenLogprob] | None = None
        """The text's tokens, once a delta carried some."""

    def add(self, delta: TextDelta | ToolArgsDelta | ReasoningDelta) -> None:
        if isinstance(delta, ToolArgsDelta):
            self.pieces.append(delta.json)
            return
        self.pieces.append(delta.text)
        if isinstance(delta, TextDelta) and delta.logprobs is not None:
            if self.logprobs is None:
                shell = self.shell
                held = shell.logprobs if isinstance(shell, TextPart) else None
                self.logprobs = list(held or ())
            self.logprobs += delta.logprobs

    def close(self) -> Part:
        joined = "".join(self.pieces)
        shell = self.shell
        if isinstance(shell, TextPart):
            cites = shell.citations + tuple(self.citations)
            text = shell.text + joined
            if self.logprobs is None:
                return msgspec.structs.replace(shell, text=text, citations=cites)
            tokens = tuple(self.logprobs)
            return msgspec.structs.replace(shell, text=text, citations=cites, logprobs=tokens)
        if isinstance(shell, ToolCallPart | ServerToolCallPart):
            return msgspec.structs.replace(shell, arguments=shell.arguments + joined)
        if isinstance(shell, ReasoningPart):
            signature = self.signature if self.signature is not None else shell.signature
            return msgspec.structs.replace(shell, text=shell.text + joined, signature=signature)
        return shell


class StreamAccumulator:
    def __init__(self) -> None:
        self._start: MessageStart | None = None
        self._parts: list[Part] = []
        self._open: _OpenPart | None = None
        self._usage = Usage()
        self._stop: MessageStop | None = None
        self._error: StreamError | None = None

    def feed(self, event: StreamEvent) -> None:
        if self._start is None and not isinstance(event, MessageStart | StreamError):
            raise StreamProtocolError(f"{type(event).__name__} before MessageStart")
        match event:
            case MessageStart():
                self._start = event
                if event.usage is not None:
                    self._usage = event.usage
            case PartStart():
                self._begin(event)
            case TextDelta() | ToolArgsDelta() | ReasoningDelta():
                self._current(event.index).add(event)
            case SignatureDelta():
                self._current(event.index).signature = event.signature
            case CitationDelta():
                self._current(event.index).citations.append(event.citation)
            case PartStop():
                self._parts.append(self._current(event.index).close())
                self._open = None
            case UsageDelta():
                self._usage = event.usage
            case MessageStop():
                self._stop = event
            case StreamError():
                self._error = event
            case _:
                assert_never(event)

    def _begin(self, event: PartStart) -> None:
        if self._open is not None:
            raise StreamProtocolError(f"PartStart({event.index}) while a part is open")
        if event.index != len(self._parts):
            raise StreamProtocolError(f"PartStart({event.index}), expected {len(self._parts)}")
        self._open = _OpenPart(event.part)

    def _current(self, index: int) -> _OpenPart:
        if self._open is None or index != len(self._parts):
            raise StreamProtocolError(f"event for part {index}, which is not open")
        return self._open

    @property
    def usage(self) -> Usage:
        return self._usage

    @property
    def last_part(self) -> Part:
        """The part the last PartStop closed (not `snapshot`, which copies them all)."""
        if not self._parts:
            raise StreamProtocolError("no part has been closed")
        return self._parts[-1]

    @property
    def error(self) -> StreamError | None:
        return self._error

    @property
    def snapshot(self) -> ChatResponse:
        """The response so far (open part included, as it stands)."""
        parts = list(self._parts)
        if self._open is not None:
            parts.append(self._open.close())
        stop = self._stop
        return ChatResponse(
            id=self._start.id if self._start else "",
            model=self._start.model if self._start else "",
            parts=tuple(parts),
            stop_reason=stop.stop_reason if stop else StopReason.END_TURN,
            stop_sequence=stop.stop_sequence if stop else None,
            usage=self._usage,
        )

    def result(self) -> ChatResponse:
        """The finished response. Raises UpstreamError when the stream failed or broke off."""
        if self._error is not None:
            err = self._error
            raise UpstreamError(err.message, status=err.status, kind=err.kind)
        if self._stop is None or self._open is not None:
            raise UpstreamError("upstream stream ended before its final event", status=502)
        return self.snapshot
