"""OpenAIResponsesStreamRenderer: IR stream events → Responses SSE events.

Theory of operation (translation.md §9.3 → R). `MessageStart` → `response.created` and
`response.in_progress`. Parts, their deltas and `PartStop` become output items and their
events (stream_items.py, the renderer's base class, tells how). `finish()` ends with
`response.completed`, `response.incomplete` or `response.failed` carrying the full output
and usage. `sequence_number` counts every event from 0; each frame has an `event:` line.
"""

from __future__ import annotations

import time

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.frontends.openai_responses.encode import (
    encode_echoing,
    error_object_from_ir,
    output_text,
    refusal_content,
    response_id,
    response_shell,
    status_from_ir,
    usage_from_ir,
)
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.frontends.openai_responses.stream_items import (
    DIGITS,
    TEXT_DELTA_HEAD,
    TEXT_DELTA_TAIL,
    TEXT_KINDS,
    OutputItemRenderer,
    PartKind,
    digits,
    encode_json,
)
from polyrelay.ir import (
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
    Usage,
    UsageDelta,
)
from polyrelay.schemas.openai_responses import (
    Response,
    ResponseError,
    ResponseOutputItem,
    ResponseStreamEvent,
    SummaryTextParam,
)

__all__ = ["KEEPALIVE", "OpenAIResponsesStreamRenderer"]

KEEPALIVE = b": keep-alive\n\n"
"""An SSE comment: keeps a silent stream open; clients ignore it."""


class OpenAIResponsesStreamRenderer(OutputItemRenderer):
    """The Response around the output items: its opening events, the IR events routed to
    the item side, the usage and stop it keeps, and its terminal or failed event."""

    def __init__(self, ctx: RequestContext, options: ResponsesOptions | None = None) -> None:
        super().__init__(options)
        self._ctx = ctx
        self._id = response_id(ctx, options)
        self._started = False
        self._ended = False
        self._usage = Usage()
        self._stop: MessageStop | None = None
        self._final: Response | None = None
        self._final_json: bytes | None = None

    @property
    def final_response(self) -> Response | None:
        """The Response sent in the terminal event (for storage); None before it."""
        return self._final

    @property
    def final_json(self) -> bytes | None:
        """`final_response` as encoded in a completed or incomplete terminal event."""
        return self._final_json

    def feed(self, event: StreamEvent, choice: int = 0) -> list[bytes]:
        del choice  # Responses has one output per response
        if self._ended:
            return []
        if type(event) is TextDelta and self._started and self._kind is PartKind.TEXT:
            self._pieces.append(event.text)  # the hot event, without the match
            return [self._text_delta(event.text)]
        out: list[bytes] = []
        if not self._started and not isinstance(event, StreamError):
            self._begin(out)
        self._dispatch(event, out)
        return out

    def feed_texts(self, deltas: list[TextDelta], choice: int = 0) -> list[bytes]:
        if self._ended or not self._started or self._kind is not PartKind.TEXT:
            return [frame for delta in deltas for frame in self.feed(delta, choice)]
        texts = [delta.text for delta in deltas]
        self._pieces += texts
        seq, middle, join = self._seq, self._text_delta_middle, b"".join
        self._seq = seq + len(texts)
        if seq + len(texts) > len(DIGITS):
            return [self._text_delta_at(n, text) for n, text in enumerate(texts, seq)]
        return [
            join((TEXT_DELTA_HEAD, DIGITS[n], middle, encode_json(text), TEXT_DELTA_TAIL))
            for n, text in enumerate(texts, seq)
        ]

    def _dispatch(self, event: StreamEvent, out: list[bytes]) -> None:
        match event:
            case MessageStart():
                if event.usage is not None:  # Anthropic's input tokens, known from the start
                    self._usage = event.usage
            case PartStart():
                self._part_start(event.part, out)
            case TextDelta() if self._kind is PartKind.SCORED:
                self._scored_delta(event, out)
            case TextDelta() | ReasoningDelta() | ToolArgsDelta():
                self._delta(event.json if isinstance(event, ToolArgsDelta) else event.text, out)
            case CitationDelta():
                self._citation(event.citation, out)
            case SignatureDelta():
                self._signature = event.signature
            case PartStop():
                self._part_stop(out)
            case UsageDelta():
                self._usage = event.usage
            case MessageStop():
                self._stop = event
            case StreamError():
                out.extend(self._failed(event.kind, event.message))

    def _begin(self, out: list[bytes]) -> None:
        self._started = True
        shell = encode_echoing(response_shell(self._ctx, self._options, "in_progress", self._id))
        out.append(self._response_frame(b"response.created", shell))
        out.append(self._response_frame(b"response.in_progress", shell))

    def finish(self) -> list[bytes]:
        if self._ended:
            return []
        out: list[bytes] = []
        if not self._started:
            self._begin(out)
        if self._stop is None:
            return out + self._failed("api_error", "the upstream stream ended before its end")
        status, incomplete = status_from_ir(self._stop.stop_reason)
        for call_id in list(self._searches):  # no result came (e.g. a paused turn)
            self._search_done(call_id, None, out)
        # The message still open is the one the stop cut short (OpenAI marks it so).
        self._close_message(out, status)
        final = self._final_shell(status)
        final.incomplete_details = incomplete
        final.completed_at = int(time.time()) if status == "completed" else None
        final.usage = usage_from_ir(self._usage)
        self._ended = True
        return [*out, self._terminal_frame(f"response.{status}", final)]

    def _terminal_frame(self, kind: str, final: Response) -> bytes:
        """The terminal event, with the Response encoded once and kept (`final_json`) for
        storage."""
        self._final_json = encoded = encode_echoing(final)
        return self._response_frame(kind.encode(), encoded)

    def _response_frame(self, kind: bytes, response: bytes) -> bytes:
        """The bytes `_frame(ResponseStreamEvent(type=kind, response=...))` makes from the
        Response's JSON, which is encoded once however many events carry it."""
        seq = self._seq
        self._seq += 1
        return b'event: %b\ndata: {"type":"%b","sequence_number":%b,"response":%b}\n\n' % (
            kind,
            kind,
            digits(seq),
            response,
        )

    def fail(self, error: GatewayError) -> list[bytes]:
        if self._ended:
            return []
        _, body = error_object_from_ir(error)
        relayed = self._options.relayed if self._options is not None else None
        if relayed is not None and not self._started:
            # A relayed stream (the fast path): the client follows the upstream's
            # response, which the failure ends, rather than a new one of ours.
            # Imported here: persist.py builds on this module (and a failure is rare).
            from polyrelay.frontends.openai_responses.persist import finish_response

            options, ctx = self._options, self._ctx
            assert options is not None  # it holds `relayed`
            frame = relayed.failed_frame(
                body.code or "server_error",
                error.message,
                lambda response: finish_response(response, options, ctx),
            )
            if frame is not None:
                self._ended = True
                return [frame] if frame else []
        out: list[bytes] = []
        if not self._started:
            self._begin(out)
        return out + self._failed_with(body.code, error.message)

    def heartbeat(self) -> list[bytes]:
        """An SSE comment (no sequence number: it is not an event); none after the end."""
        return [] if self._ended else [KEEPALIVE]

    def _failed(self, kind: str, message: str) -> list[bytes]:
        code = "rate_limit_exceeded" if kind == "rate_limit_error" else "server_error"
        return self._failed_with(code, message)

    def _failed_with(self, code: str | None, message: str) -> list[bytes]:
        final = self._final_shell("failed")
        final.output = self._output_so_far()
        final.error = ResponseError(code=code or "server_error", message=message)
        final.usage = usage_from_ir(self._usage)
        self._ended = True
        return [self._frame(ResponseStreamEvent(type="response.failed", response=final))]

    def _output_so_far(self) -> list[ResponseOutputItem]:
        """The output with the open part's text so far, for a response that fails: what
        the client was streamed, where `_output` holds only what parts it closed."""
        output = list(self._output)
        text = "".join(self._pieces)
        if self._kind in TEXT_KINDS and self._message is not None:
            refused = self._kind is PartKind.REFUSAL
            tokens = self._tokens if self._kind is PartKind.SCORED else ()
            cites = tuple(self._citations)
            part = refusal_content(text) if refused else output_text(text, cites, tokens)
            content = [*(self._message.content or ()), part]
            message = msgspec.structs.replace(self._message, content=content)
            output[self._message_index] = message
        elif self._kind is PartKind.CALL and self._item is not None:
            output[self._item_index] = msgspec.structs.replace(self._item, arguments=text)
        elif self._kind is PartKind.REASONING and self._item is not None and text:
            summary = [SummaryTextParam(text=text)]
            output[self._item_index] = msgspec.structs.replace(self._item, summary=summary)
        return output

    def _final_shell(self, status: str) -> Response:
        final = response_shell(self._ctx, self._options, status, self._id)
        final.output = list(self._output)
        self._final = final
        return final
