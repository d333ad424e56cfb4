"""OpenAIResponsesStreamParser: Responses SSE events → IR stream events.

Theory of operation (translation.md §9.2 R). `response.created` opens the message. Each
output item maps to IR parts, numbered 0, 1, 2… in arrival order:

- message: every `content_part.added` opens a text part, closed by `content_part.done`;
  `output_text.delta` / `refusal.delta` fill it, `annotation.added` adds a citation.
  A text delta's `logprobs` are decoded only when the provider asked for them
  (`ctx.logprobs_asked`): the hot event's decode stays as small as it was.
- reasoning: `output_item.added` opens a reasoning part; summary deltas fill it (summary
  parts after the first are separated as in `response.py`); `output_item.done` sets the
  signature from `encrypted_content` and closes it.
- function_call: `output_item.added` opens a tool-call part, argument deltas fill it,
  `output_item.done` closes it (sending the whole arguments if no delta came, `{}` if
  they are empty: `""` is not JSON, as in `response.py`).
- web_search_call: its query is known only at `output_item.done`, so the part is
  opened and closed there.

`response.completed` / `response.incomplete` give usage and the stop reason;
`response.failed` gives its usage and ends the stream with a StreamError, as do `error`
and EOF without a terminal event.
"""

from __future__ import annotations

import msgspec

from polyrelay import codec
from polyrelay.codec import DecodeError
from polyrelay.context import RequestContext
from polyrelay.errors import kind_for_status
from polyrelay.ir import (
    CitationDelta,
    MessageStart,
    MessageStop,
    Part,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    UsageDelta,
)
from polyrelay.providers import surrogates, upstream_json
from polyrelay.providers.error_body import text
from polyrelay.providers.openai_logprobs import tokens_to_ir
from polyrelay.providers.openai_responses.request import PROVIDER_TYPE
from polyrelay.providers.openai_responses.response import (
    REASONING_SEPARATOR,
    citation_to_ir,
    failure_to_ir,
    item_to_ir,
    status_for_code,
    stop_reason_to_ir,
    usage_to_ir,
    web_search_to_ir,
)
from polyrelay.schemas.openai_logprobs import TokenLogprob
from polyrelay.schemas.openai_responses import ResponseStreamEvent
from polyrelay.sse import SSEDecoder

__all__ = ["OpenAIResponsesStreamParser"]

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_TEXT_DELTA = "response.output_text.delta"

_TEXT = TextPart(text="")
_REFUSAL = TextPart(text="", refusal=True)


def _shell(event: ResponseStreamEvent) -> TextPart:
    """The part a content event opens: a refusal, or text."""
    if event.type == "response.refusal.delta":
        return _REFUSAL
    return _REFUSAL if event.part is not None and event.part.type == "refusal" else _TEXT


class _TextDeltaEvent(msgspec.Struct):
    type: str
    delta: str = ""


class _ScoredTextDeltaEvent(_TextDeltaEvent):
    """The hot event of a stream that was asked for token logprobs."""

    logprobs: tuple[TokenLogprob, ...] = ()


_decode_text_delta = msgspec.json.Decoder(_TextDeltaEvent).decode
_decode_scored_text_delta = msgspec.json.Decoder(_ScoredTextDeltaEvent).decode
_decode_event = msgspec.json.Decoder(ResponseStreamEvent).decode
_decode_lax_event = upstream_json.lax_decoder(ResponseStreamEvent).decode
_TEXT_DELTA_NAME = _TEXT_DELTA.encode()
_WITHOUT_USAGE = frozenset(
    name.encode()
    for name in (
        "response.queued",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_text.annotation.added",
        "response.refusal.delta",
        "response.refusal.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    )
)
"""What a relayed stream's parser (`usage_only`) does not decode: these events carry no
usage and do not end the stream. (`output_item.done` is read: web searches are counted
from it.)"""


def _error_event(data: bytes) -> ResponseStreamEvent | None:
    """An `error` event (its members at the top, or in an `error` object as some servers
    nest them) read whatever their types (error_body.text); None for another event."""
    try:
        raw = codec.decode(data)
    except DecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("type") != "error":
        return None
    nested = raw.get("error")
    members = {**nested, **raw} if isinstance(nested, dict) else raw
    code, message = text(members.get("code")), text(members.get("message"))
    return ResponseStreamEvent(type="error", code=code, message=message)


class OpenAIResponsesStreamParser:
    def __init__(self, ctx: RequestContext, *, usage_only: bool = False) -> None:
        """`usage_only`: for a relayed stream, whose bytes reach the client as they are;
        only the usage and the end are read, and content events are not decoded."""
        self._ctx = ctx
        self._scored = ctx.logprobs_asked and not usage_only
        self._skipped = _WITHOUT_USAGE if usage_only else frozenset()
        self._sse = SSEDecoder()
        self._next_index = 0
        self._open: int | None = None
        self._args_seen = False
        self._parts: list[Part] = []
        """Shells of the parts started so far (for the stop reason and search count)."""
        self._started = False
        self._done = False
        self._joiner: surrogates.Joiner | None = None
        """Once an event held a lone UTF-16 surrogate half (surrogates.py)."""

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for name, data in self._sse.feed_named(chunk):
            # `_skipped` is empty unless usage_only: skip the name's hash on the full parse
            if self._done or data == b"[DONE]" or (self._skipped and name in self._skipped):
                continue
            if name == _TEXT_DELTA_NAME and self._open is not None:
                # The hot event, named by its `event:` line: only its delta is decoded.
                if self._scored:
                    if self._scored_delta(data, out):
                        continue
                else:
                    try:
                        delta = _decode_text_delta(data)
                    except (msgspec.ValidationError, DecodeError):
                        pass  # the full decode below reports it
                    else:
                        if delta.type == _TEXT_DELTA:
                            out.append(TextDelta(index=self._open, text=delta.delta))
                            continue
            try:
                event = _decode_event(data)
            except DecodeError as exc:
                try:
                    event = self._undecoded(data, exc)
                except DecodeError as error:
                    out.append(self._error(502, f"invalid OpenAI Responses stream event: {error}"))
                    continue
            self._handle(event, out)
        return out if self._joiner is None else self._joiner.feed(out)

    def _scored_delta(self, data: bytes, out: list[StreamEvent]) -> bool:
        """The hot event with its tokens; False for the full decode to report."""
        assert self._open is not None
        try:
            delta = _decode_scored_text_delta(data)
        except (msgspec.ValidationError, DecodeError):
            return False
        if delta.type != _TEXT_DELTA:
            return False
        tokens = tokens_to_ir(delta.logprobs) if delta.logprobs else None
        out.append(TextDelta(index=self._open, text=delta.delta, logprobs=tokens))
        return True

    def finish(self) -> list[StreamEvent]:
        out = self.feed(b"\n\n")  # dispatches a final event that lacked its blank line
        end: list[StreamEvent] = []
        if not self._done:
            end.append(self._error(502, "upstream stream ended before response.completed"))
        # feed's events went through the joiner: only the end does, releasing a held half
        return out + (end if self._joiner is None else self._joiner.finish(end))

    def _undecoded(self, data: bytes, error: DecodeError) -> ResponseStreamEvent:
        """An event the strict decode refused, read again: an int written as a float
        (11.0), half of an emoji's UTF-16 pair (surrogates.py), or an `error` event with
        members of odd types. Raises the DecodeError to report when none reads it."""
        try:
            return upstream_json.reread(error, data, _decode_lax_event)
        except DecodeError as exc:
            refused = exc
        if (event := surrogates.reread(data, ResponseStreamEvent)) is not None:
            self._joiner = self._joiner or surrogates.Joiner()
            return event
        in_band = _error_event(data)
        if in_band is None:
            raise refused
        return in_band

    def _error(self, status: int, message: str, kind: str = "api_error") -> StreamError:
        self._done = True
        return StreamError(status=status, kind=kind, message=message)

    def _handle(self, event: ResponseStreamEvent, out: list[StreamEvent]) -> None:
        kind = event.type
        if kind == "response.created" and event.response is not None:
            self._started = True
            out.append(MessageStart(id=event.response.id, model=event.response.model))
        elif kind in _TERMINAL:
            self._terminal(event, out)
        elif kind == "response.output_item.added" or kind == "response.output_item.done":
            self._item(event, out)
        else:
            self._content(event, out)

    def _start(self, part: Part, out: list[StreamEvent]) -> int:
        self._stop(out)  # a part left open by a malformed stream ends before the next one
        index = self._next_index
        self._next_index += 1
        self._open = index
        self._args_seen = False
        self._parts.append(part)
        out.append(PartStart(index=index, part=part))
        return index

    def _stop(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            out.append(PartStop(index=self._open))
            self._open = None

    def _item(self, event: ResponseStreamEvent, out: list[StreamEvent]) -> None:
        item = event.item
        if item is None:
            return
        added = event.type == "response.output_item.added"
        match item.type:
            case "reasoning" if added:
                self._start(ReasoningPart(origin=PROVIDER_TYPE), out)
            case "reasoning":
                if item.encrypted_content is not None and self._open is not None:
                    out.append(SignatureDelta(index=self._open, signature=item.encrypted_content))
                self._stop(out)
            case "function_call" if added:
                # The shell starts without arguments: the deltas bring them.
                shell = msgspec.structs.replace(item_to_ir(item, self._ctx)[0], arguments="")
                index = self._start(shell, out)
                if item.arguments:
                    self._args_seen = True
                    out.append(ToolArgsDelta(index=index, json=item.arguments))
            case "function_call":
                if not self._args_seen and self._open is not None:
                    out.append(ToolArgsDelta(index=self._open, json=item.arguments or "{}"))
                self._stop(out)
            case "web_search_call" if not added:
                self._start(web_search_to_ir(item), out)
                self._stop(out)
            case "message" | "web_search_call":
                pass
            case _:
                if added:
                    self._ctx.warn(f"OpenAI Responses output item {item.type!r} is not supported")

    def _content(self, event: ResponseStreamEvent, out: list[StreamEvent]) -> None:
        index = self._open
        match event.type:
            case "response.content_part.added":
                self._start(_shell(event), out)
            case "response.content_part.done":
                self._stop(out)
            case "response.output_text.delta" | "response.refusal.delta":
                # A server that skips `content_part.added` still has its text kept.
                index = self._start(_shell(event), out) if index is None else index
                tokens = tokens_to_ir(event.logprobs) if event.logprobs else None
                out.append(TextDelta(index=index, text=event.delta or "", logprobs=tokens))
            case "response.output_text.annotation.added" if index is not None:
                annotation = event.annotation
                if annotation is not None and annotation.type == "url_citation":
                    out.append(CitationDelta(index=index, citation=citation_to_ir(annotation)))
            case "response.reasoning_summary_part.added" if index is not None:
                if event.summary_index:
                    out.append(ReasoningDelta(index=index, text=REASONING_SEPARATOR))
            # reasoning_text: the reasoning itself, which open models' servers (gpt-oss on
            # vLLM) stream where OpenAI streams only a summary of it.
            case "response.reasoning_summary_text.delta" | "response.reasoning_text.delta":
                if index is None:
                    index = self._start(ReasoningPart(origin=PROVIDER_TYPE), out)
                out.append(ReasoningDelta(index=index, text=event.delta or ""))
            case "response.function_call_arguments.delta" if index is not None:
                self._args_seen = self._args_seen or bool(event.delta)
                out.append(ToolArgsDelta(index=index, json=event.delta or ""))
            case "response.function_call_arguments.delta":
                message = "OpenAI Responses sent function call arguments before the call"
                out.append(self._error(502, message))
            case _:
                pass

    def _terminal(self, event: ResponseStreamEvent, out: list[StreamEvent]) -> None:
        self._stop(out)
        response = event.response
        if event.type == "error" or response is None:
            status = status_for_code(event.code)
            message = event.message or "the upstream stream failed"
            out.append(self._error(status, message, kind_for_status(status)))
            return
        # A failed response still reports what it consumed: the usage goes ahead of the
        # error, so the meter records it and a Responses client's `response.failed` shows it.
        out.append(UsageDelta(usage=usage_to_ir(response.usage, self._parts)))
        if event.type == "response.failed":
            err = failure_to_ir(response)
            out.append(self._error(err.status, err.message, err.kind))
            return
        self._done = True
        out.append(MessageStop(stop_reason=stop_reason_to_ir(response, self._parts)))
