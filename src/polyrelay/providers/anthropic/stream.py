"""AnthropicStreamParser: Messages SSE bytes → IR stream events (translation.md §9.2 A).

Theory of operation: the mapping is almost 1:1. `message_start` → MessageStart with the
input usage; each content block → PartStart / deltas / PartStop; `message_delta` →
UsageDelta (cumulative; absent optional counts keep their earlier value) and holds the
stop reason until `message_stop` → MessageStop. `ping` and unknown events are ignored;
blocks (and deltas) of unknown types are skipped and the IR indexes renumbered so they
stay 0,1,2… An `error` event, an event that does not decode (other than those), or EOF
before `message_stop`, ends the stream with a StreamError.
"""

from __future__ import annotations

import re
from typing import Any, assert_never

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import kind_for_status
from polyrelay.ir import (
    CitationDelta,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    ServerToolCallPart,
    SignatureDelta,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)
from polyrelay.providers import surrogates, upstream_json
from polyrelay.providers.anthropic.content import ORIGIN
from polyrelay.providers.anthropic.response import (
    STATUS_BY_ERROR_TYPE,
    citation_to_ir,
    content_block_to_ir,
    stop_reason_to_ir,
    usage_to_ir,
)
from polyrelay.providers.error_body import error_object, text
from polyrelay.schemas import anthropic_messages as wire
from polyrelay.sse import SSEDecoder

# Held here, not looked up per event: hashing the union type costs more than the decode.
_EVENTS: msgspec.json.Decoder[wire.RawMessageStreamEvent] = msgspec.json.Decoder(
    wire.RawMessageStreamEvent
)
_LAX_EVENTS: msgspec.json.Decoder[wire.RawMessageStreamEvent] = msgspec.json.Decoder(
    wire.RawMessageStreamEvent, strict=False
)
"""For an event `_EVENTS` refused for an int written as a float (upstream_json)."""
_EVENT_TYPE: Any = wire.RawMessageStreamEvent

__all__ = ["AnthropicStreamParser"]

_BLOCK_DELTA, _TEXT_DELTA = wire.RawContentBlockDeltaEvent, wire.TextDelta

_KNOWN_EVENTS = frozenset(
    {
        b"message_start",
        b"content_block_start",
        b"content_block_delta",
        b"content_block_stop",
        b"message_delta",
        b"message_stop",
        b"ping",
        b"error",
    }
)


_WITHOUT_USAGE = frozenset(
    {b"content_block_start", b"content_block_delta", b"content_block_stop", b"ping"}
)
"""What a relayed stream's parser (`usage_only`) does not decode: these events carry no
usage and do not end the stream."""


class _Typed(msgspec.Struct):
    type: str


class _Shape(msgspec.Struct):
    """What a content block event that did not decode says of itself."""

    index: int
    type: str = ""
    content_block: _Typed | None = None
    delta: _Typed | None = None


_UNKNOWN_TAG = re.compile(r"^Invalid value .* - at `\$(?:\.\w+|\[\d+\])*\.type`$")
"""msgspec's error for a tagged union given a `type` it has no variant for."""


class AnthropicStreamParser:
    def __init__(self, ctx: RequestContext, *, usage_only: bool = False) -> None:
        """`usage_only`: for a relayed stream, whose bytes reach the client as they are;
        only the usage and the end are read, and content blocks are not decoded."""
        self._ctx = ctx
        self._skipped = _WITHOUT_USAGE if usage_only else frozenset()
        self._sse = SSEDecoder()
        self._usage = Usage()
        self._stop_reason = StopReason.END_TURN
        self._stop_sequence: str | None = None
        self._indexes: dict[int, int | None] = {}
        self._next = 0
        self._args_seen = True
        self._done = False
        self._joiner: surrogates.Joiner | None = None
        """Once an event held a lone UTF-16 surrogate half (surrogates.py)."""

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out = self._events(self._sse.feed_named(chunk))
        return out if self._joiner is None else self._joiner.feed(out)

    def finish(self) -> list[StreamEvent]:
        events = self._events(self._sse.finish_named())
        if not self._done:
            self._done = True
            message = "Anthropic stream ended before message_stop"
            events.append(StreamError(status=502, kind="api_error", message=message))
        return events if self._joiner is None else self._joiner.finish(events)

    def _events(self, frames: list[tuple[bytes, bytes]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for name, data in frames:
            if self._done or (name and (name not in _KNOWN_EVENTS or name in self._skipped)):
                continue
            try:
                event: wire.RawMessageStreamEvent = _EVENTS.decode(data)
            except msgspec.DecodeError as exc:
                reread = self._undecoded(name, data, exc, out)
                if reread is None:
                    continue
                event = reread
            # The hot event first, by exact type (the match below tests them in turn).
            if type(event) is _BLOCK_DELTA and type(event.delta) is _TEXT_DELTA:
                index = self._indexes.get(event.index)
                if index is not None:
                    out.append(TextDelta(index=index, text=event.delta.text))
                else:
                    self._check_started(event.index, out)
                continue
            self._event(event, out)
        return out

    def _undecoded(
        self, name: bytes, data: bytes, error: msgspec.DecodeError, out: list[StreamEvent]
    ) -> wire.RawMessageStreamEvent | None:
        """An event the strict decode refused: read again if it gave an int as a float
        (11.0), half of an emoji's UTF-16 pair (surrogates.py) or an `error` event with
        members of odd types; else None, the event skipped or the stream failed."""
        event: wire.RawMessageStreamEvent | None = surrogates.reread(data, _EVENT_TYPE)
        if event is not None:
            self._joiner = self._joiner or surrogates.Joiner()
            return event
        if name == b"error" or (not name and b'"error"' in data):
            in_band = _error_event(data)
            if in_band is not None:
                return in_band
        try:
            return upstream_json.reread(error, data, _LAX_EVENTS.decode)
        except msgspec.ValidationError as exc:
            if not self._skips(name, data, _UNKNOWN_TAG.search(str(exc)) is not None):
                self._done = True
                msg = f"Anthropic sent a stream event the gateway cannot read: {exc}"
                out.append(StreamError(status=502, kind="api_error", message=msg))
        except msgspec.DecodeError:
            self._done = True
            msg = "Anthropic sent an unreadable stream event"
            out.append(StreamError(status=502, kind="api_error", message=msg))
        return None

    def _skips(self, name: bytes, data: bytes, unknown_type: bool) -> bool:
        """Whether a content block event that did not decode is to be skipped: a block or
        delta of a type the gateway does not know (`unknown_type`: the decode failed on a
        `type` it has no variant for, at any depth; Anthropic adds them), or a delta of a
        skipped block. Anything else that does not decode is a malformed event."""
        try:
            shape = upstream_json.decode(data, _Shape)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return False
        kind = name or shape.type.encode()
        if kind == b"content_block_start" and shape.content_block is not None and unknown_type:
            self._indexes[shape.index] = None
            self._ctx.warn("an Anthropic content block of an unknown type was skipped")
            return True
        if kind == b"content_block_delta" and shape.delta is not None:
            if unknown_type:
                self._ctx.warn("an Anthropic content block delta of an unknown type was skipped")
            return unknown_type or self._indexes.get(shape.index, 0) is None
        return False

    def _event(self, event: wire.RawMessageStreamEvent, out: list[StreamEvent]) -> None:
        match event:
            case wire.RawMessageStartEvent():
                message = event.message
                self._usage = usage_to_ir(message.usage)
                out.append(MessageStart(id=message.id, model=message.model, usage=self._usage))
            case wire.RawContentBlockStartEvent():
                self._block_start(event, out)
            case wire.RawContentBlockDeltaEvent():
                self._delta(event, out)
            case wire.RawContentBlockStopEvent():
                self._block_stop(event.index, out)
            case wire.RawMessageDeltaEvent():
                self._usage = usage_to_ir(event.usage, self._usage)
                self._stop_reason = stop_reason_to_ir(event.delta.stop_reason, self._ctx)
                self._stop_sequence = event.delta.stop_sequence
                out.append(UsageDelta(usage=self._usage))
            case wire.RawMessageStopEvent():
                self._done = True
                out.append(
                    MessageStop(stop_reason=self._stop_reason, stop_sequence=self._stop_sequence)
                )
            case wire.PingEvent():
                pass
            case wire.RawErrorEvent():
                self._done = True
                out.append(_error_to_ir(event.error))
            case _:
                assert_never(event)

    def _block_start(self, event: wire.RawContentBlockStartEvent, out: list[StreamEvent]) -> None:
        index = self._next
        self._next += 1
        self._indexes[event.index] = index
        part = content_block_to_ir(event.content_block, self._ctx)
        match part:
            case ReasoningPart() if not part.redacted:
                part = ReasoningPart(
                    text=part.text, signature=part.signature or None, origin=ORIGIN
                )
            case ToolCallPart():
                part = ToolCallPart(id=part.id, name=part.name)
                self._args_seen = False
            case ServerToolCallPart():
                part = ServerToolCallPart(id=part.id, name=part.name)
                self._args_seen = False
            case _:
                pass
        out.append(PartStart(index=index, part=part))

    def _delta(self, event: wire.RawContentBlockDeltaEvent, out: list[StreamEvent]) -> None:
        index = self._indexes.get(event.index)
        if index is None:
            self._check_started(event.index, out)
            return
        delta = event.delta
        match delta:
            case wire.TextDelta():
                out.append(TextDelta(index=index, text=delta.text))
            case wire.InputJSONDelta():
                if delta.partial_json:
                    self._args_seen = True
                    out.append(ToolArgsDelta(index=index, json=delta.partial_json))
            case wire.ThinkingDelta():
                out.append(ReasoningDelta(index=index, text=delta.thinking))
            case wire.SignatureDelta():
                out.append(SignatureDelta(index=index, signature=delta.signature))
            case wire.CitationsDelta():
                citation = citation_to_ir(delta.citation, self._ctx)
                if citation is not None:
                    out.append(CitationDelta(index=index, citation=citation))
            case _:
                assert_never(delta)

    def _check_started(self, wire_index: int, out: list[StreamEvent]) -> None:
        """An event of a block with no IR index: a skipped block's, or, when the block was
        never started, a malformed stream (its content would be lost unseen)."""
        if wire_index not in self._indexes:
            self._done = True
            message = f"Anthropic sent an event of content block {wire_index} before its start"
            out.append(StreamError(status=502, kind="api_error", message=message))

    def _block_stop(self, wire_index: int, out: list[StreamEvent]) -> None:
        index = self._indexes.get(wire_index)
        if index is None:
            self._check_started(wire_index, out)
            return
        if not self._args_seen:
            # An all-empty input buffer means `{}` (anthropic-messages.md §6 delta table).
            self._args_seen = True
            out.append(ToolArgsDelta(index=index, json="{}"))
        out.append(PartStop(index=index))


def _error_event(data: bytes) -> wire.RawErrorEvent | None:
    """An `error` event read whatever the types of its members (error_body.text); None
    when it holds no error object."""
    error = error_object(data)
    if error is None:
        return None
    kind, message = text(error.get("type")), text(error.get("message"))
    return wire.RawErrorEvent(
        error=wire.ErrorObject(
            type=kind or "api_error", message=message or "Anthropic stream failed"
        )
    )


def _error_to_ir(error: wire.ErrorObject) -> StreamError:
    status = STATUS_BY_ERROR_TYPE.get(error.type, 500)
    return StreamError(status=status, kind=kind_for_status(status), message=error.message)
