"""AnthropicStreamRenderer: IR stream events → Messages SSE frames (translation.md §9.3 A).

Rules: every frame's `event:` equals its data `type`; `message_start` (input usage known
or 0) is followed by one `ping`; blocks get their own counter 0,1,2… with no gaps and
never interleave; a thinking block's signature is held and sent as one
`signature_delta` just before its `content_block_stop` (a gateway token when the
upstream is not Anthropic); `message_delta` carries the cumulative usage, then
`message_stop`. `message_start` splits the cache writes by lifetime (`cache_creation`), as
Anthropic's does; `message_delta` repeats the split only when it is not the one
`message_start` told (an upstream that reports its usage at the end, several upstream
calls): Anthropic's never has it, and the SDK's MessageDeltaUsage leaves it out. A
signature-only reasoning part right after text is held: sent before the next block,
dropped (warned) if the message ends there (encode.trails_text). Errors
after the start become one `event: error` frame, which ends the stream. Text deltas, the
hot path, are framed from pre-encoded byte pieces.
`heartbeat()` is a `ping`, which the pipeline sends while the upstream is silent.
"""

from __future__ import annotations

from typing import assert_never

import msgspec
from msgspec import UNSET, UnsetType

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamError
from polyrelay.frontends.anthropic_messages.encode import (
    TRAILING_SIGNATURE_DROPPED,
    citation_from_ir,
    error_type_for,
    message_id,
    thinking_from_ir,
    trails_text,
    usage_from_ir,
)
from polyrelay.ir import (
    CitationDelta,
    MessageStart,
    MessageStop,
    Part,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)
from polyrelay.providers.anthropic.content import ORIGIN, web_search_result_from_ir
from polyrelay.schemas import anthropic_messages as wire
from polyrelay.sse import encode_event

__all__ = ["AnthropicStreamRenderer"]

_EMPTY_INPUT = msgspec.Raw(b"{}")
_PING = encode_event(b'{"type":"ping"}', "ping")
_STOP = encode_event(b'{"type":"message_stop"}', "message_stop")
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_KINDS = {
    "text_delta": (b',"delta":{"type":"text_delta","text":', b"}}\n\n"),
    "thinking_delta": (b',"delta":{"type":"thinking_delta","thinking":', b"}}\n\n"),
    "input_json_delta": (b',"delta":{"type":"input_json_delta","partial_json":', b"}}\n\n"),
    "signature_delta": (b',"delta":{"type":"signature_delta","signature":', b"}}\n\n"),
}

_TEXT_MIDDLE = _DELTA_KINDS["text_delta"][0]


def _frame(event: msgspec.Struct) -> bytes:
    tag = type(event).__struct_config__.tag
    return encode_event(encode(event), str(tag))


def _delta(index: int, kind: str, value: str) -> bytes:
    middle, tail = _DELTA_KINDS[kind]
    return _DELTA_HEAD + str(index).encode() + middle + encode(value) + tail


def _unless_told(
    writes: wire.CacheCreation | UnsetType | None, told: wire.CacheCreation | None
) -> wire.CacheCreation | UnsetType | None:
    return UNSET if writes == told else writes


class AnthropicStreamRenderer:
    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._started = False
        self._ended = False
        self._next = 0
        self._open: Part | None = None
        self._skip = False
        self._signature: str | None = None
        self._usage = Usage()
        self._told_writes: wire.CacheCreation | None = None
        """The cache writes' split message_start told."""
        self._previous: Part | None = None
        """The part whose block was closed last."""
        self._held: list[bytes] | None = None
        """The frames of a signature-only reasoning part after text, while held."""

    def _text_head(self) -> bytes:
        """A text delta's frame up to its text (then the text and `}}` and a blank line)."""
        return _DELTA_HEAD + str(self._next).encode() + _TEXT_MIDDLE

    def feed_texts(self, deltas: list[TextDelta], choice: int = 0) -> list[bytes]:
        if self._ended or self._skip:
            return [frame for delta in deltas for frame in self.feed(delta, choice)]
        head = self._text_head()
        return [head + encode(delta.text) + b"}}\n\n" for delta in deltas]

    def feed(self, event: StreamEvent, choice: int = 0) -> list[bytes]:
        del choice  # Anthropic has one answer per response
        if self._ended:
            return []
        if type(event) is TextDelta and not self._skip:  # the hot event, without the match
            return [self._text_head() + encode(event.text) + b"}}\n\n"]
        if self._held is not None or (
            type(event) is PartStart and trails_text(event.part, self._previous)
        ):
            return self._hold(event)
        return self._render(event)

    def _hold(self, event: StreamEvent) -> list[bytes]:
        frames = self._render(event)
        if self._held is None:  # the signature-only part starts
            self._held = frames
            return []
        if isinstance(event, MessageStop):
            self._ctx.warn(TRAILING_SIGNATURE_DROPPED)
            self._held = None
            return frames
        if isinstance(event, PartStart | ReasoningDelta | StreamError):  # not signature-only
            held, self._held = self._held, None
            return held + frames
        self._held += frames
        return []

    def _render(self, event: StreamEvent) -> list[bytes]:
        match event:
            case MessageStart():
                return self._start(event)
            case PartStart():
                return self._part_start(event.part)
            case TextDelta() | ReasoningDelta() | ToolArgsDelta() | SignatureDelta():
                return self._delta(event)
            case CitationDelta():
                delta = wire.CitationsDelta(citation=citation_from_ir(event.citation))
                return [_frame(wire.RawContentBlockDeltaEvent(index=self._next, delta=delta))]
            case PartStop():
                return self._part_stop()
            case UsageDelta():
                self._usage = event.usage
                return []
            case MessageStop():
                return self._stop(event)
            case StreamError():
                error = UpstreamError(event.message, status=event.status, kind=event.kind)
                return self.fail(error)
            case _:
                assert_never(event)

    def _delta(
        self, event: TextDelta | ReasoningDelta | ToolArgsDelta | SignatureDelta
    ) -> list[bytes]:
        if self._skip:
            return []
        match event:
            case TextDelta():
                return [_delta(self._next, "text_delta", event.text)]
            case ReasoningDelta():
                return [_delta(self._next, "thinking_delta", event.text)]
            case ToolArgsDelta():
                return [_delta(self._next, "input_json_delta", event.json)]
            case SignatureDelta():
                self._signature = event.signature
                return []
            case _:
                assert_never(event)

    def _start(self, event: MessageStart) -> list[bytes]:
        self._started = True
        if event.usage is not None:
            self._usage = event.usage
        usage = usage_from_ir(self._usage)
        message = wire.Message(
            id=message_id(self._ctx),
            model=self._ctx.model or event.model,
            content=[],
            usage=wire.Usage(
                input_tokens=usage.input_tokens,
                output_tokens=0,
                cache_creation_input_tokens=usage.cache_creation_input_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
                cache_creation=usage.cache_creation,
            ),
        )
        self._told_writes = usage.cache_creation or None
        return [_frame(wire.RawMessageStartEvent(message=message)), _PING]

    def _part_start(self, part: Part) -> list[bytes]:
        self._open = part
        self._signature = None
        index = self._next
        frames: list[bytes] = []
        block: wire.ContentBlock
        match part:
            case TextPart():
                block = wire.TextBlock(text="")
                if part.text:
                    frames.append(_delta(index, "text_delta", part.text))
                for citation in part.citations:
                    delta = wire.CitationsDelta(citation=citation_from_ir(citation))
                    frames.append(_frame(wire.RawContentBlockDeltaEvent(index=index, delta=delta)))
            case ReasoningPart():
                if part.redacted and part.origin == ORIGIN and part.signature:
                    block = thinking_from_ir(part)
                    self._open = None
                else:
                    block = wire.ThinkingBlock(thinking="", signature="")
                    if part.text:
                        frames.append(_delta(index, "thinking_delta", part.text))
            case ToolCallPart():
                # Extensions are already folded into the id by the pipeline (ir/tool_ids.py).
                block = wire.ToolUseBlock(id=part.id, name=part.name, input=_EMPTY_INPUT)
                if part.arguments:
                    frames.append(_delta(index, "input_json_delta", part.arguments))
            case ServerToolCallPart():
                block = wire.ServerToolUseBlock(id=part.id, name=part.name, input=_EMPTY_INPUT)
                if part.arguments:
                    frames.append(_delta(index, "input_json_delta", part.arguments))
            case ServerToolResultPart():
                block = web_search_result_from_ir(part)
            case _:
                self._ctx.warn(f"a {type(part).__name__} cannot be streamed to Anthropic; dropped")
                self._open = None
                self._skip = True
                return []
        start = _frame(wire.RawContentBlockStartEvent(index=index, content_block=block))
        return [start, *frames]

    def _part_stop(self) -> list[bytes]:
        if self._skip:
            self._skip = False
            return []
        part, index = self._open, self._next
        frames: list[bytes] = []
        if isinstance(part, ReasoningPart):
            signature = self._signature if self._signature is not None else part.signature
            block = thinking_from_ir(msgspec.structs.replace(part, signature=signature))
            if isinstance(block, wire.ThinkingBlock):
                frames.append(_delta(index, "signature_delta", block.signature))
        frames.append(_frame(wire.RawContentBlockStopEvent(index=index)))
        self._previous, self._open = part, None
        self._next += 1
        return frames

    def _stop(self, event: MessageStop) -> list[bytes]:
        self._ended = True
        usage = usage_from_ir(self._usage)
        delta_usage = wire.MessageDeltaUsage(
            output_tokens=usage.output_tokens,
            input_tokens=usage.input_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cache_creation=_unless_told(usage.cache_creation, self._told_writes),
            server_tool_use=usage.server_tool_use,
            output_tokens_details=usage.output_tokens_details,
        )
        delta = wire.MessageDelta(
            stop_reason=event.stop_reason.value, stop_sequence=event.stop_sequence
        )
        message_delta = wire.RawMessageDeltaEvent(delta=delta, usage=delta_usage)
        return [_frame(message_delta), _STOP]

    def finish(self) -> list[bytes]:
        if self._ended:
            return []
        return self.fail(UpstreamError("the upstream stream ended early", status=502))

    def fail(self, error: GatewayError) -> list[bytes]:
        if self._ended:
            return []
        self._ended = True
        _, error_type = error_type_for(error)
        body = wire.RawErrorEvent(error=wire.ErrorObject(type=error_type, message=error.message))
        return [_frame(body)]

    def heartbeat(self) -> list[bytes]:
        """`event: ping` (§9.3 A step 5); nothing once the stream ended."""
        return [] if self._ended else [_PING]
