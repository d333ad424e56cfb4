"""GeminiStreamParser: `streamGenerateContent?alt=sse` bytes → IR stream events.

Theory of operation (translation.md §9.2 G, gemini-generate-content.md §5):
- every SSE `data:` is a whole GenerateContentResponse; there is no `[DONE]`, EOF ends it;
- text parts are increments: consecutive text extends the open TextPart, consecutive
  `thought: true` parts the open ReasoningPart; any other kind closes the open part first;
- a thoughtSignature on a thought part → SignatureDelta on that part; on a plain text part
  it is held until the text closes, then emitted as a signature-only ReasoningPart (the
  same shape response.py builds, so folding the stream equals parsing the JSON);
- a part of any other kind (an image, executable code) is dropped, warned once;
- a functionCall arrives whole: PartStart(tool call, invented id if absent), one
  ToolArgsDelta with the compact arguments, PartStop;
- a chunk's `logprobsResult` covers that chunk's tokens: they go on its text deltas;
- usageMetadata totals are cumulative: the last one becomes the UsageDelta at EOF, followed
  by MessageStop when a finishReason (or a prompt block) was seen, else a StreamError;
- `{"error": …}` in place of a chunk, or as bare JSON outside `data:` lines, → StreamError.
"""

from __future__ import annotations

import msgspec

from polyrelay.context import RequestContext, new_id
from polyrelay.errors import UpstreamError
from polyrelay.ir import (
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    TokenLogprob,
    ToolArgsDelta,
    Usage,
    UsageDelta,
)
from polyrelay.providers import surrogates, upstream_json
from polyrelay.providers.gemini.content import PROVIDER_TYPE
from polyrelay.providers.gemini.logprobs import split_by_text, tokens_to_ir
from polyrelay.providers.gemini.response import (
    NON_TEXT_DROPPED,
    decode_error_body,
    error_from_status,
    stop_reason_to_ir,
    tool_call_to_ir,
    usage_to_ir,
)
from polyrelay.schemas.gemini import (
    Candidate,
    GenerateContentStreamChunk,
    LogprobsResult,
    Part,
    Status,
    UsageMetadata,
)
from polyrelay.sse import SSEDecoder

__all__ = ["GeminiStreamParser"]

_TEXT = "text"
_THOUGHT = "thought"
_TAIL_BYTES = 8192


class GeminiStreamParser:
    def __init__(self, upstream_model: str, ctx: RequestContext | None = None) -> None:
        self._model = upstream_model
        self._ctx = ctx
        """Told, once, of a part the stream drops (an image, executable code...)."""
        self._dropped = False
        self._sse = SSEDecoder()
        self._tail = bytearray()
        self._started = False
        self._done = False
        self._index = 0
        self._open: str | None = None
        self._pending_signature: str | None = None
        self._finish_reason: str | None = None
        self._finish_message: str | None = None
        self._blocked = False
        self._has_calls = False
        self._has_text = False
        self._usage: UsageMetadata | None = None
        self._joiner: surrogates.Joiner | None = None
        """Once a chunk held a lone UTF-16 surrogate half (surrogates.py)."""

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        tail = self._tail
        tail += chunk
        if len(tail) > 2 * _TAIL_BYTES:
            del tail[:-_TAIL_BYTES]
        events: list[StreamEvent] = []
        for sse in self._sse.feed(chunk):
            if self._done:
                break
            self._on_data(sse.data, events)
        return events if self._joiner is None else self._joiner.feed(events)

    def finish(self) -> list[StreamEvent]:
        out = self._finish()
        return out if self._joiner is None else self._joiner.finish(out)

    def _finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for sse in self._sse.finish():
            if not self._done:
                self._on_data(sse.data, events)
        if self._done:
            return events
        self._done = True
        if self._finish_reason is None and not self._blocked:
            events.append(self._eof_error())
            return events
        self._close(events)
        try:
            stop = stop_reason_to_ir(
                self._finish_reason,
                blocked=self._blocked,
                has_calls=self._has_calls,
                has_text=self._has_text,
                detail=self._finish_message,
            )
        except UpstreamError as exc:
            events.append(StreamError(status=exc.status, kind=exc.kind, message=exc.message))
            return events
        if self._usage is not None:
            events.append(UsageDelta(usage=usage_to_ir(self._usage)))
        events.append(MessageStop(stop_reason=stop))
        return events

    def _on_data(self, data: str, events: list[StreamEvent]) -> None:
        try:
            chunk = self._decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self._fail(events, 502, "api_error", f"gemini sent an unreadable stream chunk: {exc}")
            return
        if chunk.error is not None:
            err = error_from_status(chunk.error, chunk.error.code or 500)
            self._fail(events, err.status, err.kind, err.message)
            return
        if not self._started:
            self._start(chunk, events)
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        if chunk.prompt_feedback is not None and chunk.prompt_feedback.block_reason:
            self._blocked = not chunk.candidates
        if chunk.candidates:
            self._on_candidate(chunk.candidates[0], events)

    def _decode(self, data: str) -> GenerateContentStreamChunk:
        """A chunk, read again when it holds half of an emoji's UTF-16 pair
        (surrogates.py) or is an error with members of odd types. Raises
        msgspec.DecodeError/ValidationError."""
        try:
            return upstream_json.decode(data, GenerateContentStreamChunk)
        except msgspec.DecodeError as exc:
            refused = exc
        if (chunk := surrogates.reread(data, GenerateContentStreamChunk)) is not None:
            self._joiner = self._joiner or surrogates.Joiner()
            return chunk
        status = decode_error_body(data)  # an error, whatever its members' types
        if status is None:
            raise refused
        return GenerateContentStreamChunk(error=status)

    def _start(self, chunk: GenerateContentStreamChunk, events: list[StreamEvent]) -> None:
        self._started = True
        meta = chunk.usage_metadata
        usage = None
        if meta is not None:
            usage = Usage(
                input_tokens=meta.prompt_token_count + meta.tool_use_prompt_token_count,
                cache_read_tokens=meta.cached_content_token_count,
            )
        message_id = chunk.response_id or new_id("gemini-")
        model = chunk.model_version or self._model
        events.append(MessageStart(id=message_id, model=model, usage=usage))

    def _on_candidate(self, candidate: Candidate, events: list[StreamEvent]) -> None:
        if candidate.content is not None:
            if candidate.logprobs_result is not None:
                self._scored_parts(candidate.content.parts, candidate.logprobs_result, events)
            else:
                for part in candidate.content.parts:
                    self._on_part(part, events)
        if candidate.finish_reason is not None:
            self._finish_reason = candidate.finish_reason
            self._finish_message = candidate.finish_message

    def _on_part(self, part: Part, events: list[StreamEvent]) -> None:
        if part.function_call is not None:
            self._close(events)
            call = tool_call_to_ir(part)
            self._has_calls = True
            events.append(
                PartStart(index=self._index, part=msgspec.structs.replace(call, arguments=""))
            )
            events.append(ToolArgsDelta(index=self._index, json=call.arguments))
            events.append(PartStop(index=self._index))
            self._index += 1
        elif part.text is None:
            self._drop()
        elif part.thought:
            self._thought(part.text, part.thought_signature, events)
        else:
            self._text(part.text, part.thought_signature, events)

    def _scored_parts(
        self, parts: list[Part], result: LogprobsResult, events: list[StreamEvent]
    ) -> None:
        """A chunk's parts, its tokens dealt to its text (logprobs.py)."""
        texts = [p.text for p in parts if _is_text(p)]
        dealt = iter(split_by_text(tokens_to_ir(result), [t or "" for t in texts]))
        for part in parts:
            if _is_text(part):
                self._text(part.text or "", part.thought_signature, events, next(dealt))
            else:
                self._on_part(part, events)

    def _drop(self) -> None:
        """A part of a kind the IR has no room for (inlineData, executableCode,
        codeExecutionResult, fileData): warned as parse_response warns, once a response."""
        if not self._dropped and self._ctx is not None:
            self._dropped = True
            self._ctx.warn(NON_TEXT_DROPPED)

    def _text(
        self,
        text: str,
        signature: str | None,
        events: list[StreamEvent],
        tokens: tuple[TokenLogprob, ...] | None = None,
    ) -> None:
        if text:
            if self._open != _TEXT:
                self._close(events)
                events.append(PartStart(index=self._index, part=TextPart(text="")))
                self._open = _TEXT
                self._has_text = True
            events.append(TextDelta(index=self._index, text=text, logprobs=tokens))
        if signature is not None:
            self._pending_signature = signature

    def _thought(self, text: str, signature: str | None, events: list[StreamEvent]) -> None:
        if self._open != _THOUGHT:
            self._close(events)
            shell = ReasoningPart(origin=PROVIDER_TYPE)
            events.append(PartStart(index=self._index, part=shell))
            self._open = _THOUGHT
        if text:
            events.append(ReasoningDelta(index=self._index, text=text))
        if signature is not None:
            events.append(SignatureDelta(index=self._index, signature=signature))

    def _close(self, events: list[StreamEvent]) -> None:
        if self._open is not None:
            events.append(PartStop(index=self._index))
            self._index += 1
            self._open = None
        if self._pending_signature is not None:
            sig, self._pending_signature = self._pending_signature, None
            shell = ReasoningPart(origin=PROVIDER_TYPE)
            events.append(PartStart(index=self._index, part=shell))
            events.append(SignatureDelta(index=self._index, signature=sig))
            events.append(PartStop(index=self._index))
            self._index += 1

    def _fail(self, events: list[StreamEvent], status: int, kind: str, message: str) -> None:
        self._done = True
        events.append(StreamError(status=status, kind=kind, message=message))

    def _eof_error(self) -> StreamError:
        """An error after the 200 may come as bare JSON outside `data:` lines (the SDK
        buffers such lines until the braces balance); look for it in the last bytes."""
        status = _bare_error(bytes(self._tail[-_TAIL_BYTES:]))
        if status is not None:
            err = error_from_status(status, status.code or 500)
            return StreamError(status=err.status, kind=err.kind, message=err.message)
        return StreamError(
            status=502, kind="api_error", message="gemini stream ended without a finishReason"
        )


def _is_text(part: Part) -> bool:
    """A part of the answer's text (not a thought, nor a call)."""
    return part.function_call is None and part.text is not None and not part.thought


def _bare_error(tail: bytes) -> Status | None:
    lines = tail.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for block in reversed(lines.split(b"\n\n")):
        block = block.strip()
        if block:
            return decode_error_body(block) if block.startswith((b"{", b"[")) else None
    return None
