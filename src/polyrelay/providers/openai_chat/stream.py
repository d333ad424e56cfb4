"""OpenAIChatStreamParser: `chat.completion.chunk` SSE → IR stream events.

Theory of operation (translation.md §9.2 C):
- The first chunk → `MessageStart`. `delta.content` (and `refusal`) → a text part; non-
  standard `reasoning_content` / `reasoning` → a reasoning part (origin None, no signature);
  an array content (Mistral) → both (`content_array`). A change of kind starts a new part.
- Tool calls: the first call streams live (its fragments → `ToolArgsDelta`). A fragment for
  any OTHER new index is held and released whole after the live call closes. IR parts
  are strictly sequential, and some OpenAI-compatible servers interleave fragments of
  parallel calls (0, 1, 0, 1...), so only a call that is known to be alone may stream.
  Ids and names are taken from the first fragment that has them, never concatenated.
  Some compatible servers (Gemini's OpenAI endpoint, older Ollama, mistral.rs, SGLang)
  send no `index`: it is inferred as clients do (vercel/ai): a fragment with a new id
  starts the next call, one without continues the last call, and several fragments
  without ids in one chunk are the calls at their positions in it.
  A call whose arguments stay empty (vLLM, Ollama on a tool without parameters send `""`) gets
  `{}`, as Anthropic's empty input buffer does: `""` is not JSON, and clients parse a finished
  call's arguments.
- The legacy `functions` API streams its one call as `delta.function_call` fragments
  (name first, then arguments) with no index or id: they are the fragments of one call
  under an index of its own (`_LEGACY`, never a `tool_calls` index) and an id issued on
  the first, so they stream live, or are held, exactly as a `tool_calls` call would.
- `finish_reason` closes the parts and releases held calls, but `MessageStop` waits for
  the usage chunk (`choices: []`) or `data: [DONE]`, so usage precedes it.
- A chunk's `logprobs` go on its text (or refusal) delta: such chunks skip the
  text-only reads below, which have none.
- `data: {"error": ...}` → `StreamError`. EOF before any finish → `StreamError` (502).
- Only choice 0 is parsed: the StreamParser contract has no choice index.
- Text-only chunks that repeat the shape of one decoded in full are read by that shape,
  many at once (`text_shape.TextShape`): the same events, without a decode per chunk.
"""

from __future__ import annotations

import msgspec

from polyrelay.context import RequestContext, new_id
from polyrelay.errors import kind_for_status
from polyrelay.ir import (
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
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
from polyrelay.providers import surrogates, upstream_json
from polyrelay.providers.openai_chat.content_array import read_array
from polyrelay.providers.openai_chat.response import (
    choice_tokens,
    stop_reason_to_ir,
    usage_to_ir,
)
from polyrelay.providers.openai_errors import lenient_error
from polyrelay.providers.text_shape import PROBE, TextShape
from polyrelay.schemas.openai_chat import (
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ErrorObject,
)
from polyrelay.schemas.openai_logprobs import ChoiceLogprobs
from polyrelay.sse import SSEDecoder

__all__ = ["OpenAIChatStreamParser"]


_decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode
_decode_lax_chunk = upstream_json.lax_decoder(ChatCompletionChunk).decode

_TEXT, _REFUSAL, _REASONING, _TOOL = "text", "refusal", "reasoning", "tool"
_PART_SHELLS: dict[str, TextPart | ReasoningPart] = {
    _TEXT: TextPart(text=""),
    _REFUSAL: TextPart(text="", refusal=True),
    _REASONING: ReasoningPart(),
}
_LEGACY = -1
"""The index of the legacy `delta.function_call`: no `tool_calls` index is negative."""
_NO_ARGUMENTS = "{}"
"""The arguments of a call that sent none (see the module doc)."""
_ERROR_STATUS = {"invalid_request_error": 400, "rate_limit_error": 429, "server_error": 500}


def _text_only(chunk: ChatCompletionChunk) -> str | None:
    """The text of a chunk of one choice, 0, carrying only str `delta.content`, else None."""
    if len(chunk.choices) != 1 or chunk.usage is not None or chunk.error is not None:
        return None
    delta = (choice := chunk.choices[0]).delta
    only = (
        choice.index == 0
        and choice.finish_reason is None
        and choice.logprobs is None
        and delta.tool_calls is None
        and delta.refusal is None
        and delta.reasoning_content is None
        and delta.reasoning is None
        and delta.function_call is None
    )
    return text if only and isinstance(text := delta.content, str) and text else None


def _is_probe(data: bytes) -> bool:
    """A `TextShape` check: `data` is a text-only chunk whose text is the probe."""
    try:
        chunk = _decode_chunk(data)
    except msgspec.DecodeError:
        return False
    return _text_only(chunk) == PROBE


class _HeldCall:
    __slots__ = ("args", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.args: list[str] = []


class OpenAIChatStreamParser:
    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._sse = SSEDecoder()
        self._started = False
        self._done = False
        self._next = 0
        self._open: str | None = None
        self._live: int | None = None
        self._live_args = False
        """Whether the live call has had a non-empty arguments fragment."""
        self._held: dict[int, _HeldCall] = {}
        self._seen_tools: set[int] = set()
        self._unindexed_ids: dict[str, int] = {}
        """The index given to each call id that came without one (`_unindexed`)."""
        self._last_unindexed = 0
        self._call_ids: dict[int, str] = {}
        self._moved: dict[int, int] = {}
        """An `index` reused for another call (`_indexed`) → the index that call was given."""
        self._legacy_id = ""
        """The id issued to the legacy `function_call` on its first fragment."""
        self._stop: StopReason | None = None
        self._usage = Usage()
        self._shape = TextShape(b'"content":')
        self._joiner: surrogates.Joiner | None = None
        """Once a chunk held a lone UTF-16 surrogate half (surrogates.py)."""

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        shape = self._shape
        hot: list[bytes] = []  # chunks of the learned text-only shape, read together
        for data in self._sse.feed_data(chunk):
            if self._done:
                break
            if self._open is _TEXT and shape.head:
                if data.startswith(shape.head) and data.endswith(shape.tail):
                    hot.append(data)
                    continue
            if hot:
                self._hot(hot, out)
                hot = []
            self._data(data, out)
        if hot:
            self._hot(hot, out)
        return out if self._joiner is None else self._joiner.feed(out)

    def _hot(self, chunks: list[bytes], out: list[StreamEvent]) -> None:
        """Text-only chunks of the learned shape (an empty text adds nothing, as in
        `_delta`); read one by one, in full, if their texts do not read together."""
        texts = self._shape.texts(chunks)
        if texts is None:
            for data in chunks:
                self._data(data, out)
            return
        index = self._next
        out += [TextDelta(index=index, text=text) for text in texts if text]

    def finish(self) -> list[StreamEvent]:
        out = self._finish()
        return out if self._joiner is None else self._joiner.finish(out)

    def _finish(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in self._sse.finish():
            if not self._done:
                self._data(event.data.encode(), out)
        if self._done:
            return out
        if self._stop is not None:
            self._message_stop(out)
            return out
        self._done = True
        message = "upstream stream ended before its final chunk"
        out.append(StreamError(status=502, kind="api_error", message=message))
        return out

    def _data(self, data: bytes, out: list[StreamEvent]) -> None:
        if data == b"[DONE]":
            self._end_marker(out)
            return
        chunk = self._decode(data, out)
        if chunk is None:
            return
        if self._open is _TEXT and (text := _text_only(chunk)) is not None:
            out.append(TextDelta(index=self._next, text=text))
            self._shape.learn(data, _is_probe)
            return
        self._chunk(chunk, out)

    def _end_marker(self, out: list[StreamEvent]) -> None:
        """`data: [DONE]`: the end, whether or not a finish reason came."""
        if self._stop is None:
            self._stop = StopReason.END_TURN if self._started else None
        if self._stop is not None:
            self._close_all(out)
            self._message_stop(out)

    def _chunk(self, chunk: ChatCompletionChunk, out: list[StreamEvent]) -> None:
        if chunk.error is not None:
            self._error(chunk.error, out)
            return
        if not self._started:
            self._started = True
            out.append(MessageStart(id=chunk.id, model=chunk.model))
        if chunk.usage is not None:
            self._usage = usage_to_ir(chunk.usage)
        for choice in chunk.choices:
            if choice.index != 0:
                self._ctx.warn("only the first choice of a streamed completion is relayed")
                continue
            self._delta(choice.delta, choice.logprobs, out)
            # Not `is not None`: some servers (SGLang, older Ollama) send "" on every chunk.
            if choice.finish_reason:
                self._close_all(out)
                has_calls = bool(self._seen_tools)
                self._stop = stop_reason_to_ir(choice.finish_reason, has_calls)
        if not chunk.choices and chunk.usage is not None and self._stop is not None:
            self._message_stop(out)

    def _decode(self, data: bytes, out: list[StreamEvent]) -> ChatCompletionChunk | None:
        try:
            return _decode_chunk(data)
        except msgspec.DecodeError as exc:
            return self._undecoded(data, exc, out)

    def _undecoded(
        self, data: bytes, error: msgspec.DecodeError, out: list[StreamEvent]
    ) -> ChatCompletionChunk | None:
        """A chunk the strict decode refused: read again, else the stream fails."""
        try:  # an int written as a float (11.0)
            return upstream_json.reread(error, data, _decode_lax_chunk)
        except msgspec.DecodeError:
            pass
        try:  # bytes that are not UTF-8 read as U+FFFD, as a text decode would
            return _decode_chunk(data.decode("utf-8", "replace"))
        except msgspec.DecodeError:
            pass
        # Half of an emoji's UTF-16 pair (surrogates.py)?
        if (chunk := surrogates.reread(data, ChatCompletionChunk)) is not None:
            self._joiner = self._joiner or surrogates.Joiner()
            return chunk
        in_band = lenient_error(data)  # an error event, whatever its members' types
        if in_band is not None:
            return ChatCompletionChunk(error=in_band)
        self._fail(out, 502, "api_error", f"upstream sent an invalid chunk: {error}")
        return None

    def _delta(
        self, delta: ChoiceDelta, logprobs: ChoiceLogprobs | None, out: list[StreamEvent]
    ) -> None:
        reasoning, text = delta.reasoning_content or delta.reasoning, delta.content
        if isinstance(text, list):  # a rare shape: the common path pays one check
            reasoning, text = read_array(reasoning, text, self._ctx.warn)
        if reasoning:
            self._switch(_REASONING, out)
            out.append(ReasoningDelta(index=self._next, text=reasoning))
        if text:
            self._switch(_TEXT, out)
            tokens = choice_tokens(logprobs, refusal=False) if logprobs is not None else None
            out.append(TextDelta(index=self._next, text=text, logprobs=tokens))
        if delta.refusal:
            self._switch(_REFUSAL, out)
            tokens = choice_tokens(logprobs, refusal=True) if logprobs is not None else None
            out.append(TextDelta(index=self._next, text=delta.refusal, logprobs=tokens))
        for call in delta.tool_calls or ():
            fn = call.function
            index = call.index
            if index is None:  # its position is looked up here: `enumerate` cost 0.1 us a chunk
                index = self._unindexed(call, delta.tool_calls or [])
            else:
                index = self._indexed(index, call.id)
            self._tool_fragment(
                index,
                call.id,
                fn.name if fn is not None else None,
                fn.arguments if fn is not None else None,
                out,
            )
        if delta.function_call is not None:
            self._function_call(delta.function_call, out)

    def _unindexed(self, call: ChoiceDeltaToolCall, calls: list[ChoiceDeltaToolCall]) -> int:
        """The index of a `tool_calls` fragment that has none, as clients infer it: an id
        not seen yet starts a call after the others; one seen is its call's; with no id,
        the fragment's position among several in one chunk, else the last call."""
        if call.id:
            index = self._unindexed_ids.get(call.id)
            if index is None:
                index = self._unindexed_ids[call.id] = max(self._seen_tools, default=-1) + 1
        elif len(calls) > 1:
            index = next(i for i, other in enumerate(calls) if other is call)
        else:
            index = self._last_unindexed
        self._last_unindexed = index
        return index

    def _indexed(self, wire: int, call_id: str | None) -> int:
        """Ollama gives every streamed call of a turn index 0, each whole with its own id: a
        new id at an index taken starts the next call (as vercel/ai reads it)."""
        index = self._moved.get(wire, wire)
        if call_id and self._call_ids.setdefault(index, call_id) != call_id:
            self._moved[wire] = index = max(self._seen_tools) + 1
            self._call_ids[index] = call_id
        return index

    def _function_call(self, fn: ChoiceDeltaToolCallFunction, out: list[StreamEvent]) -> None:
        """A fragment of the legacy call (see the module doc)."""
        self._legacy_id = self._legacy_id or new_id("call_")
        self._tool_fragment(_LEGACY, self._legacy_id, fn.name, fn.arguments, out)

    def _switch(self, kind: str, out: list[StreamEvent]) -> None:
        if self._open == kind:
            return
        self._close(out)
        part = _PART_SHELLS[kind]
        out.append(PartStart(index=self._next, part=part))
        self._open = kind

    def _tool_fragment(
        self,
        index: int,
        call_id: str | None,
        name: str | None,
        args: str | None,
        out: list[StreamEvent],
    ) -> None:
        if index == self._live:
            if args:
                self._live_args = True
                out.append(ToolArgsDelta(index=self._next, json=args))
            return
        new = index not in self._seen_tools
        self._seen_tools.add(index)
        if new and self._live is None and not self._held and call_id and name:
            self._close(out)
            out.append(PartStart(index=self._next, part=ToolCallPart(id=call_id, name=name)))
            self._open, self._live, self._live_args = _TOOL, index, bool(args)
            if args:
                out.append(ToolArgsDelta(index=self._next, json=args))
            return
        held = self._held.setdefault(index, _HeldCall())
        held.id = held.id or call_id or ""
        held.name = held.name or name or ""
        if args:
            held.args.append(args)

    def _close(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            if self._open is _TOOL and not self._live_args:
                out.append(ToolArgsDelta(index=self._next, json=_NO_ARGUMENTS))
            out.append(PartStop(index=self._next))
            self._next += 1
            self._open = None
            self._live = None

    def _close_all(self, out: list[StreamEvent]) -> None:
        self._close(out)
        for index in sorted(self._held):
            held = self._held[index]
            # Some compatible servers omit tool-call ids; the gateway issues one.
            call = ToolCallPart(id=held.id or new_id("call_"), name=held.name)
            out.append(PartStart(index=self._next, part=call))
            args = "".join(held.args) or _NO_ARGUMENTS
            out.append(ToolArgsDelta(index=self._next, json=args))
            out.append(PartStop(index=self._next))
            self._next += 1
        self._held.clear()

    def _message_stop(self, out: list[StreamEvent]) -> None:
        out.append(UsageDelta(usage=self._usage))
        out.append(MessageStop(stop_reason=self._stop or StopReason.END_TURN))
        self._done = True

    def _error(self, error: ErrorObject, out: list[StreamEvent]) -> None:
        status = _ERROR_STATUS.get(error.type or "", 502)
        if isinstance(error.code, int) and 400 <= error.code < 600:
            status = error.code
        kind = kind_for_status(status)
        self._fail(out, status, kind, error.message or "upstream stream failed")

    def _fail(self, out: list[StreamEvent], status: int, kind: str, message: str) -> None:
        out.append(StreamError(status=status, kind=kind, message=message))
        self._done = True
