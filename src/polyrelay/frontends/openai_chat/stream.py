"""OpenAIChatStreamRenderer: IR stream events → `chat.completion.chunk` SSE frames.

Theory of operation (translation.md §9.3 C; protocols/README.md detail 2 and 3):
- `id`, `created` and `model` are fixed for the whole stream, so the bytes around a
  chunk's `index` and `delta` are encoded once per stream and each chunk is a join of
  pre-encoded pieces plus one encoded string (timeit: 1.2 µs per text chunk through
  `feed`, vs 1.4 µs to encode an equivalent, smaller chunk Struct).
- Per choice: `MessageStart` → the role chunk `{"role":"assistant","content":""}`; text
  and reasoning deltas → `content` / non-standard `reasoning_content`; each tool-call
  part gets the next per-choice tool counter `k` (not the part index) and sends id, type
  and name only in its first fragment, because clients concatenate delta strings;
  `MessageStop` → a `delta: {}` chunk with `finish_reason`. Server-tool parts and
  citations have no chunk field and are not streamed.
- `finish()` → with `include_usage`, one `choices: []` chunk with usage summed over the
  choices, then `data: [DONE]`. `fail()` → `data: {"error": {...}}` (no `[DONE]`).
- `heartbeat()` → the SSE comment `: keep-alive` (the pipeline sends it during silence).
- A request on the legacy `functions` API gets `LegacyFunctionsStreamRenderer` (chosen
  once per stream, so other streams pay nothing): its first tool call as
  `delta.function_call` fragments, finish reason `function_call` (legacy.py).
- A request that asked for logprobs gets `LogprobsStreamRenderer` (chosen once, too):
  each text chunk whose delta carries tokens writes them in `logprobs.content` (or
  `logprobs.refusal`); other chunks keep `logprobs: null`, as OpenAI's do.
"""

from __future__ import annotations

from typing import assert_never

from polyrelay import codec
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import GatewayError, UpstreamError
from polyrelay.frontends.openai_chat import legacy
from polyrelay.frontends.openai_chat.encode import (
    error_from_gateway,
    finish_reason_from_ir,
    usage_from_ir,
)
from polyrelay.frontends.openai_logprobs import tokens_from_ir
from polyrelay.ir import (
    ChatRequest,
    CitationDelta,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    SignatureDelta,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)
from polyrelay.schemas.openai_chat import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ErrorResponse,
)
from polyrelay.sse import encode_event

__all__ = [
    "LegacyFunctionsStreamRenderer",
    "LegacyLogprobsStreamRenderer",
    "LogprobsStreamRenderer",
    "OpenAIChatStreamRenderer",
]

# OpenAI's first delta, `refusal` included: a client that reads `delta.refusal` as a key of
# the first chunk (a JS one, not typed by an SDK) finds it as it does from OpenAI.
_ROLE_DELTA = b'{"role":"assistant","content":"","refusal":null}'
_EMPTY_DELTA = b"{}"
_DONE = encode_event(b"[DONE]")
_KEEPALIVE = b": keep-alive\n\n"


class _Choice:
    __slots__ = ("index", "refusals", "started", "tools", "usage")

    def __init__(self, index: int) -> None:
        self.index = str(index).encode()
        self.started = False
        self.refusals: set[int] = set()
        """IR part indexes of refusals: their deltas are `delta.refusal`."""
        self.tools: dict[int, int] = {}
        """IR part index → tool-call counter k."""
        self.usage = Usage()


class OpenAIChatStreamRenderer:
    def __init__(self, request: ChatRequest, ctx: RequestContext) -> None:
        self._include_usage = ctx.include_usage
        self._head = (
            b'{"id":'
            + codec.encode(new_id("chatcmpl-"))
            + b',"object":"chat.completion.chunk","created":'
            + str(ctx.created).encode()
            + b',"model":'
            + codec.encode(ctx.model or request.model)
        )
        usage_null = b',"usage":null}' if self._include_usage else b"}"
        self._open = self._head + b',"choices":[{"index":'
        self._tail = b',"logprobs":null,"finish_reason":null}]' + usage_null
        self._tail_end = self._tail + b"\n\n"
        self._usage_null = usage_null
        self._text_tail = b"}" + self._tail_end
        self._choices: dict[int, _Choice] = {}

    def _text_head(self, state: _Choice) -> bytes:
        """A text delta's frame up to its text (then the text and `_text_tail`)."""
        return b"data: " + self._open + state.index + b',"delta":{"content":'

    def feed_texts(self, deltas: list[TextDelta], choice: int = 0) -> list[bytes]:
        state = self._choices.get(choice)
        if state is None or not state.started or state.refusals:
            return [frame for delta in deltas for frame in self.feed(delta, choice)]
        head, tail, encode = self._text_head(state), self._text_tail, codec.encode
        return [head + encode(delta.text) + tail for delta in deltas]

    def feed(self, event: StreamEvent, choice: int = 0) -> list[bytes]:
        state = self._choices.get(choice)
        if state is None:
            state = self._choices[choice] = _Choice(choice)
        if type(event) is TextDelta and state.started and not state.refusals:  # the hot event
            return [self._text_head(state) + codec.encode(event.text) + self._text_tail]
        frames: list[bytes] = []
        if not state.started and not isinstance(event, StreamError):
            state.started = True
            frames.append(self._chunk(state, _ROLE_DELTA))
        match event:
            case TextDelta():
                frames.append(self._text_chunk(state, event))
            case ReasoningDelta(text=text):
                delta = b'{"reasoning_content":' + codec.encode(text) + b"}"
                frames.append(self._chunk(state, delta))
            case ToolArgsDelta(index=index, json=fragment):
                frames.extend(self._tool_args(state, index, fragment))
            case PartStart():
                frames.extend(self._part_start(state, event))
            case UsageDelta(usage=usage):
                state.usage = usage
            case MessageStop(stop_reason=reason):
                frames.append(self._finish_chunk(state, self._finish_reason(reason)))
            case StreamError(status=status, kind=kind, message=message):
                frames.extend(self.fail(UpstreamError(message, status=status, kind=kind)))
            case MessageStart() | PartStop() | SignatureDelta() | CitationDelta():
                pass
            case _:
                assert_never(event)
        return frames

    def _finish_reason(self, reason: StopReason) -> str:
        return finish_reason_from_ir(reason)

    def _text_chunk(self, state: _Choice, event: TextDelta) -> bytes:
        key = b'{"refusal":' if event.index in state.refusals else b'{"content":'
        return self._chunk(state, key + codec.encode(event.text) + b"}")

    def _tool_args(self, state: _Choice, index: int, fragment: str) -> list[bytes]:
        k = state.tools.get(index)
        if k is None:  # a server tool's call (the upstream's own web search): not a tool call
            return []
        delta = b'{"tool_calls":[{"index":' + str(k).encode() + b',"function":{"arguments":'
        return [self._chunk(state, delta + codec.encode(fragment) + b"}}]}")]

    def _part_start(self, state: _Choice, event: PartStart) -> list[bytes]:
        part = event.part
        if isinstance(part, ToolCallPart):
            k = state.tools[event.index] = len(state.tools)
            fn = ChoiceDeltaToolCallFunction(name=part.name, arguments=part.arguments)
            call = ChoiceDeltaToolCall(index=k, id=part.id, type="function", function=fn)
            return [self._chunk(state, codec.encode(ChoiceDelta(tool_calls=[call])))]
        if isinstance(part, TextPart) and part.refusal:
            state.refusals.add(event.index)
            if part.text:
                return [self._chunk(state, codec.encode(ChoiceDelta(refusal=part.text)))]
            return []
        # A shell that already holds text (rare) is sent as the part's first delta.
        if isinstance(part, TextPart) and part.text:
            return [self._chunk(state, codec.encode(ChoiceDelta(content=part.text)))]
        if isinstance(part, ReasoningPart) and part.text:
            return [self._chunk(state, codec.encode(ChoiceDelta(reasoning_content=part.text)))]
        return []

    def _chunk(self, state: _Choice, delta: bytes) -> bytes:
        return encode_event(self._open + state.index + b',"delta":' + delta + self._tail)

    def _finish_chunk(self, state: _Choice, reason: str) -> bytes:
        tail = b',"logprobs":null,"finish_reason":"' + reason.encode() + b'"}]' + self._usage_null
        return encode_event(self._open + state.index + b',"delta":' + _EMPTY_DELTA + tail)

    def finish(self) -> list[bytes]:
        if not self._include_usage:
            return [_DONE]
        total = Usage()
        for state in self._choices.values():
            total = total + state.usage
        usage = codec.encode(usage_from_ir(total))
        return [encode_event(self._head + b',"choices":[],"usage":' + usage + b"}"), _DONE]

    def fail(self, error: GatewayError) -> list[bytes]:
        _, body = error_from_gateway(error)
        return [encode_event(codec.encode(ErrorResponse(error=body)))]

    def heartbeat(self) -> list[bytes]:
        """An SSE comment: every SSE decoder skips it."""
        return [_KEEPALIVE]


class LegacyFunctionsStreamRenderer(OpenAIChatStreamRenderer):
    """The renderer for a request with `functions`: one call per choice, in the legacy
    form (`delta.function_call`, no index or id), as OpenAI streams it."""

    def __init__(self, request: ChatRequest, ctx: RequestContext) -> None:
        super().__init__(request, ctx)
        self._ctx = ctx

    def _finish_reason(self, reason: StopReason) -> str:
        finish = finish_reason_from_ir(reason)
        return legacy.FINISH_REASON if finish == "tool_calls" else finish

    def _tool_args(self, state: _Choice, index: int, fragment: str) -> list[bytes]:
        if index not in state.tools:  # a server tool's call, or a call after the first
            return []
        delta = b'{"function_call":{"arguments":' + codec.encode(fragment) + b"}}"
        return [self._chunk(state, delta)]

    def _part_start(self, state: _Choice, event: PartStart) -> list[bytes]:
        part = event.part
        if not isinstance(part, ToolCallPart):
            return super()._part_start(state, event)
        if state.tools:  # the legacy form has room for one call
            legacy.warn_extra_calls(None, self._ctx)
            return []
        state.tools[event.index] = 0
        fn = ChoiceDeltaToolCallFunction(name=part.name, arguments=part.arguments)
        return [self._chunk(state, codec.encode(ChoiceDelta(function_call=fn)))]


class LogprobsStreamRenderer(OpenAIChatStreamRenderer):
    """The renderer for a request that asked for logprobs: a text delta's tokens go in its
    chunk's `logprobs`, so text chunks leave the pre-joined hot path."""

    def feed_texts(self, deltas: list[TextDelta], choice: int = 0) -> list[bytes]:
        return [frame for delta in deltas for frame in self.feed(delta, choice)]

    def feed(self, event: StreamEvent, choice: int = 0) -> list[bytes]:
        if type(event) is TextDelta and event.logprobs is not None:
            state = self._choices.get(choice)
            if state is not None and state.started:
                return [self._text_chunk(state, event)]
        return super().feed(event, choice)  # the first event starts the choice

    def _text_chunk(self, state: _Choice, event: TextDelta) -> bytes:
        if event.logprobs is None:  # an upstream without them (Anthropic)
            return super()._text_chunk(state, event)
        tokens = codec.encode(tokens_from_ir(event.logprobs))
        if event.index in state.refusals:
            delta, logprobs = b'{"refusal":', b'{"content":null,"refusal":' + tokens + b"}"
        else:
            delta, logprobs = b'{"content":', b'{"content":' + tokens + b',"refusal":null}'
        return encode_event(
            self._open
            + state.index
            + b',"delta":'
            + delta
            + codec.encode(event.text)
            + b'},"logprobs":'
            + logprobs
            + b',"finish_reason":null}]'
            + self._usage_null
        )


class LegacyLogprobsStreamRenderer(LogprobsStreamRenderer, LegacyFunctionsStreamRenderer):
    """Both: a legacy `functions` request that asked for logprobs."""
