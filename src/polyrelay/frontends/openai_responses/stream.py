"""OpenAIResponsesStreamRenderer: IR stream events → Responses SSE events.

Theory of operation (translation.md §9.3 → R). `MessageStart` → `response.created` and
`response.in_progress`. Consecutive IR text parts share one `message` item, each text part
being one content part; the message item closes when a non-text part starts or the
stream ends. A reasoning part is a `reasoning` item with one summary part; a tool call is
a `function_call` item (or `custom_tool_call` for custom tools, whose input is known
only at the end of the part); a server web-search call is a `web_search_call` item,
emitted whole at its `PartStop` once its query is known. With logprobs asked for
(`include`), each `output_text.delta` carries its delta's tokens, and `output_text.done`
and the part all of them. Other parts (tool results,
media) have no Responses output item and are skipped. `finish()` ends with
`response.completed`, `response.incomplete` or `response.failed` carrying the full output
and usage. `sequence_number` counts every event from 0; each frame has an `event:` line.
"""

from __future__ import annotations

import enum
import time

import msgspec

from polyrelay.codec import encode
from polyrelay.context import RequestContext, new_id
from polyrelay.errors import GatewayError
from polyrelay.frontends.openai_logprobs import tokens_from_ir
from polyrelay.frontends.openai_responses.encode import (
    SOURCES,
    call_item_from_ir,
    citation_from_ir,
    custom_input,
    encode_echoing,
    error_object_from_ir,
    output_text,
    reasoning_item_from_ir,
    refusal_content,
    response_id,
    response_shell,
    search_status,
    sources_from_ir,
    status_from_ir,
    usage_from_ir,
    web_search_item_from_ir,
)
from polyrelay.frontends.openai_responses.options import (
    LOGPROBS_INCLUDE,
    ResponsesOptions,
    ToolNames,
)
from polyrelay.ir import (
    Citation,
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
    TokenLogprob,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)
from polyrelay.schemas.openai_responses import (
    Response,
    ResponseError,
    ResponseOutputContent,
    ResponseOutputItem,
    ResponseStreamEvent,
    SummaryTextParam,
)
from polyrelay.sse import encode_event

__all__ = ["KEEPALIVE", "OpenAIResponsesStreamRenderer"]

KEEPALIVE = b": keep-alive\n\n"
"""An SSE comment: keeps a silent stream open; clients ignore it."""
# The hot frame, `response.output_text.delta`, is joined from pre-encoded pieces (the same
# bytes the event Struct encodes to, 1.3 µs instead of 4 µs per delta).
_TEXT_DELTA_HEAD = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":'
)
_TEXT_DELTA_TAIL = b',"logprobs":[]}\n\n'
_encode = msgspec.json.Encoder().encode
# A delta frame is one join of five pieces; `b"%d" %` per frame cost more than the rest of
# the join (bytes formatting goes through a str), so the common sequence numbers are kept.
_DIGITS = tuple(b"%d" % n for n in range(2048))


def _digits(n: int) -> bytes:
    return _DIGITS[n] if n < len(_DIGITS) else b"%d" % n


class _Kind(enum.Enum):
    TEXT = "text"
    SCORED = "scored"
    """Text with its token logprobs asked for: kept off the hot path, which writes none."""
    REASONING = "reasoning"
    CALL = "call"
    CUSTOM = "custom"
    SEARCH = "search"
    SKIP = "skip"
    REFUSAL = "refusal"


_TEXTS = (_Kind.TEXT, _Kind.SCORED, _Kind.REFUSAL)
"""The kinds that are a content part of the message item."""
_KIND_BY_PART: dict[type, _Kind] = {
    TextPart: _Kind.TEXT,
    ReasoningPart: _Kind.REASONING,
    ToolCallPart: _Kind.CALL,
    ServerToolCallPart: _Kind.SEARCH,
}


class OpenAIResponsesStreamRenderer:
    def __init__(self, ctx: RequestContext, options: ResponsesOptions | None = None) -> None:
        self._ctx = ctx
        self._options = options
        self._names = options.tool_names if options is not None else ToolNames()
        self._id = response_id(ctx, options)
        self._seq = 0
        self._started = False
        self._ended = False
        self._output: list[ResponseOutputItem] = []
        self._message: ResponseOutputItem | None = None
        self._kind = _Kind.SKIP
        self._shell: Part | None = None
        self._item: ResponseOutputItem | None = None
        self._item_index = 0
        self._message_index = 0
        self._pieces: list[str] = []
        self._scored = options is not None and LOGPROBS_INCLUDE in options.include
        """Logprobs asked for: text parts are `_Kind.SCORED`."""
        self._tokens: list[TokenLogprob] = []
        """The open scored text part's tokens."""
        self._text_delta_middle = b""
        """The open text part's bytes between sequence_number and the delta string."""
        self._citations: list[Citation] = []
        self._signature: str | None = None
        self._usage = Usage()
        self._stop: MessageStop | None = None
        self._final: Response | None = None
        self._final_json: bytes | None = None
        self._searches: dict[str, tuple[ResponseOutputItem, int]] = {}
        """web_search_call items whose search is still running, by call id."""

    @property
    def final_response(self) -> Response | None:
        """The Response sent in the terminal event (for storage); None before it."""
        return self._final

    @property
    def final_json(self) -> bytes | None:
        """`final_response` as encoded in a completed or incomplete terminal event."""
        return self._final_json

    def _frame(self, event: ResponseStreamEvent) -> bytes:
        event.sequence_number = self._seq
        self._seq += 1
        return encode_event(encode(event), event=event.type)

    def feed(self, event: StreamEvent, choice: int = 0) -> list[bytes]:
        del choice  # Responses has one output per response
        if self._ended:
            return []
        if type(event) is TextDelta and self._started and self._kind is _Kind.TEXT:
            self._pieces.append(event.text)  # the hot event, without the match
            return [self._text_delta(event.text)]
        out: list[bytes] = []
        if not self._started and not isinstance(event, StreamError):
            self._begin(out)
        self._dispatch(event, out)
        return out

    def feed_texts(self, deltas: list[TextDelta], choice: int = 0) -> list[bytes]:
        if self._ended or not self._started or self._kind is not _Kind.TEXT:
            return [frame for delta in deltas for frame in self.feed(delta, choice)]
        texts = [delta.text for delta in deltas]
        self._pieces += texts
        seq, middle, join = self._seq, self._text_delta_middle, b"".join
        self._seq = seq + len(texts)
        if seq + len(texts) > len(_DIGITS):
            return [self._text_delta_at(n, text) for n, text in enumerate(texts, seq)]
        return [
            join((_TEXT_DELTA_HEAD, _DIGITS[n], middle, _encode(text), _TEXT_DELTA_TAIL))
            for n, text in enumerate(texts, seq)
        ]

    def _text_delta(self, text: str) -> bytes:
        seq = self._seq
        self._seq = seq + 1
        return self._text_delta_at(seq, text)

    def _text_delta_at(self, seq: int, text: str) -> bytes:
        middle = self._text_delta_middle
        return b"".join((_TEXT_DELTA_HEAD, _digits(seq), middle, _encode(text), _TEXT_DELTA_TAIL))

    def _dispatch(self, event: StreamEvent, out: list[bytes]) -> None:
        match event:
            case MessageStart():
                if event.usage is not None:  # Anthropic's input tokens, known from the start
                    self._usage = event.usage
            case PartStart():
                self._part_start(event.part, out)
            case TextDelta() if self._kind is _Kind.SCORED:
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

    def _add_item(self, item: ResponseOutputItem, out: list[bytes]) -> int:
        self._output.append(item)
        index = len(self._output) - 1
        added = ResponseStreamEvent(
            type="response.output_item.added", output_index=index, item=item
        )
        out.append(self._frame(added))
        return index

    def _done_item(self, item: ResponseOutputItem, index: int, out: list[bytes]) -> None:
        self._output[index] = item
        done = ResponseStreamEvent(type="response.output_item.done", output_index=index, item=item)
        out.append(self._frame(done))

    def _close_message(self, out: list[bytes], status: str = "completed") -> None:
        if self._message is not None:
            self._message.status = status
            self._done_item(self._message, self._message_index, out)
            self._message = None

    def _part_start(self, part: Part, out: list[bytes]) -> None:
        self._kind = _KIND_BY_PART.get(type(part), _Kind.SKIP)
        if isinstance(part, ToolCallPart) and part.name in self._names.custom:
            self._kind = _Kind.CUSTOM
        elif isinstance(part, TextPart) and part.refusal:
            self._kind = _Kind.REFUSAL
        elif isinstance(part, TextPart) and self._scored:
            self._kind, self._tokens = _Kind.SCORED, list(part.logprobs or ())
        self._shell, self._pieces, self._citations, self._signature = part, [], [], None
        if self._kind in _TEXTS:
            self._text_start(out)
            return
        if self._kind is not _Kind.SKIP:
            self._close_message(out)
        if isinstance(part, ReasoningPart):
            self._item = reasoning_item_from_ir(ReasoningPart(), new_id("rs_"), "in_progress")
            self._item.encrypted_content = None
            self._item_index = self._add_item(self._item, out)
        elif isinstance(part, ToolCallPart):
            self._item = call_item_from_ir(part, self._names, "", "in_progress")
            self._item_index = self._add_item(self._item, out)
            if part.arguments:
                self._delta(part.arguments, out)
        elif isinstance(part, ServerToolCallPart):
            self._pieces.append(part.arguments)
        elif isinstance(part, ServerToolResultPart):
            self._search_done(part.tool_call_id, part, out)

    def _text_start(self, out: list[bytes]) -> None:
        if self._message is None:
            self._message = ResponseOutputItem(
                type="message", id=new_id("msg_"), status="in_progress", role="assistant"
            )
            self._message.content = []
            self._message_index = self._add_item(self._message, out)
        shell = refusal_content("") if self._kind is _Kind.REFUSAL else output_text("")
        added = self._content_event("response.content_part.added", shell)
        out.append(self._frame(added))
        self._text_delta_middle = b',"output_index":%d,"item_id":%b,"content_index":%d,"delta":' % (
            self._message_index,
            encode(added.item_id),
            len(self._message.content or ()),
        )

    def _content_event(self, kind: str, part: ResponseOutputContent | None) -> ResponseStreamEvent:
        message = self._message
        assert message is not None and message.content is not None
        return ResponseStreamEvent(
            type=kind,
            item_id=message.id,
            output_index=self._message_index,
            content_index=len(message.content),
            part=part,
        )

    def _item_event(self, kind: str, **fields: object) -> ResponseStreamEvent:
        item = self._item
        assert item is not None
        event = ResponseStreamEvent(type=kind, item_id=item.id, output_index=self._item_index)
        for name, value in fields.items():
            setattr(event, name, value)
        return event

    def _delta(self, text: str, out: list[bytes]) -> None:
        first = not self._pieces
        self._pieces.append(text)
        match self._kind:
            case _Kind.TEXT | _Kind.SCORED:
                out.append(self._text_delta(text))
            case _Kind.REASONING:
                summary = ResponseOutputContent(type="summary_text", text="")
                if first:
                    added = "response.reasoning_summary_part.added"
                    out.append(self._frame(self._item_event(added, summary_index=0, part=summary)))
                kind = "response.reasoning_summary_text.delta"
                out.append(self._frame(self._item_event(kind, summary_index=0, delta=text)))
            case _Kind.CALL:
                kind = "response.function_call_arguments.delta"
                out.append(self._frame(self._item_event(kind, delta=text)))
            case _Kind.REFUSAL:
                delta = self._content_event("response.refusal.delta", None)
                delta.delta = text
                out.append(self._frame(delta))
            case _Kind.CUSTOM | _Kind.SEARCH | _Kind.SKIP:
                pass

    def _citation(self, citation: Citation, out: list[bytes]) -> None:
        if self._kind is not _Kind.TEXT and self._kind is not _Kind.SCORED:
            return
        event = self._content_event("response.output_text.annotation.added", None)
        event.annotation_index = len(self._citations)
        event.annotation = citation_from_ir(citation, "".join(self._pieces))
        self._citations.append(citation)
        out.append(self._frame(event))

    def _part_stop(self, out: list[bytes]) -> None:
        text = "".join(self._pieces)
        match self._kind:
            case _Kind.TEXT | _Kind.SCORED:
                self._text_stop(text, out)
            case _Kind.REFUSAL:
                self._refusal_stop(text, out)
            case _Kind.REASONING:
                self._reasoning_stop(text, out)
            case _Kind.CALL | _Kind.CUSTOM:
                self._call_stop(text, out)
            case _Kind.SEARCH:
                self._search_stop(text, out)
            case _Kind.SKIP:
                pass
        self._kind, self._item = _Kind.SKIP, None

    def _scored_delta(self, event: TextDelta, out: list[bytes]) -> None:
        """A text delta with its tokens (none from an upstream without them)."""
        self._pieces.append(event.text)
        tokens = event.logprobs or ()
        self._tokens += tokens
        seq = self._seq
        self._seq = seq + 1
        logprobs = _encode(tokens_from_ir(tokens, with_bytes=False))
        text = _encode(event.text)
        middle = self._text_delta_middle
        head = b"".join((_TEXT_DELTA_HEAD, _digits(seq), middle, text))
        out.append(head + b',"logprobs":' + logprobs + b"}\n\n")

    def _text_stop(self, text: str, out: list[bytes]) -> None:
        tokens = self._tokens if self._kind is _Kind.SCORED else ()
        done = self._content_event("response.output_text.done", None)
        done.text, done.logprobs = text, tokens_from_ir(tokens, with_bytes=False)
        out.append(self._frame(done))
        part = output_text(text, tuple(self._citations), tokens)
        out.append(self._frame(self._content_event("response.content_part.done", part)))
        assert self._message is not None and self._message.content is not None
        self._message.content.append(part)

    def _refusal_stop(self, text: str, out: list[bytes]) -> None:
        done = self._content_event("response.refusal.done", None)
        done.refusal = text
        out.append(self._frame(done))
        part = refusal_content(text)
        out.append(self._frame(self._content_event("response.content_part.done", part)))
        assert self._message is not None and self._message.content is not None
        self._message.content.append(part)

    def _reasoning_stop(self, text: str, out: list[bytes]) -> None:
        shell = self._shell
        assert isinstance(shell, ReasoningPart) and self._item is not None
        if text:
            kind = "response.reasoning_summary_text.done"
            out.append(self._frame(self._item_event(kind, summary_index=0, text=text)))
            summary = ResponseOutputContent(type="summary_text", text=text)
            kind = "response.reasoning_summary_part.done"
            out.append(self._frame(self._item_event(kind, summary_index=0, part=summary)))
        signature = self._signature if self._signature is not None else shell.signature
        part = msgspec.structs.replace(shell, text=text, signature=signature)
        item = reasoning_item_from_ir(part, self._item.id or "", "completed")
        self._done_item(item, self._item_index, out)

    def _call_stop(self, arguments: str, out: list[bytes]) -> None:
        shell = self._shell
        assert isinstance(shell, ToolCallPart) and self._item is not None
        if self._kind is _Kind.CUSTOM:
            value = custom_input(arguments)
            kind = "response.custom_tool_call_input"
            out.append(self._frame(self._item_event(kind + ".delta", delta=value)))
            out.append(self._frame(self._item_event(kind + ".done", input=value)))
        else:
            kind = "response.function_call_arguments.done"
            event = self._item_event(kind, arguments=arguments, name=self._item.name)
            out.append(self._frame(event))
        item = msgspec.structs.replace(self._item, status="completed")
        if item.type == "custom_tool_call":
            item.input = custom_input(arguments)
        else:
            item.arguments = arguments
        self._done_item(item, self._item_index, out)

    def _search_stop(self, arguments: str, out: list[bytes]) -> None:
        shell = self._shell
        assert isinstance(shell, ServerToolCallPart)
        part = msgspec.structs.replace(shell, arguments=arguments)
        self._item = web_search_item_from_ir(part, "in_progress")
        self._item_index = self._add_item(self._item, out)
        for phase in ("in_progress", "searching"):
            out.append(self._frame(self._item_event(f"response.web_search_call.{phase}")))
        # Completed (or failed) when its result arrives: the search runs after the call.
        self._searches[shell.id] = (self._item, self._item_index)

    def _search_done(
        self, call_id: str, result: ServerToolResultPart | None, out: list[bytes]
    ) -> None:
        found = self._searches.pop(call_id, None)
        if found is None:
            return
        self._item, self._item_index = found
        status = search_status(result)
        if status == "completed":  # the stream has no failed event: the item's status says it
            out.append(self._frame(self._item_event("response.web_search_call.completed")))
        done = msgspec.structs.replace(self._item, status=status)
        options = self._options
        if (
            result is not None
            and done.action is not None
            and options is not None
            and SOURCES in options.include
        ):
            done.action = msgspec.structs.replace(done.action, sources=sources_from_ir(result))
        self._done_item(done, self._item_index, out)
        self._item = None

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
            _digits(seq),
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
        if self._kind in _TEXTS and self._message is not None:
            refused = self._kind is _Kind.REFUSAL
            tokens = self._tokens if self._kind is _Kind.SCORED else ()
            cites = tuple(self._citations)
            part = refusal_content(text) if refused else output_text(text, cites, tokens)
            content = [*(self._message.content or ()), part]
            message = msgspec.structs.replace(self._message, content=content)
            output[self._message_index] = message
        elif self._kind is _Kind.CALL and self._item is not None:
            output[self._item_index] = msgspec.structs.replace(self._item, arguments=text)
        elif self._kind is _Kind.REASONING and self._item is not None and text:
            summary = [SummaryTextParam(text=text)]
            output[self._item_index] = msgspec.structs.replace(self._item, summary=summary)
        return output

    def _final_shell(self, status: str) -> Response:
        final = response_shell(self._ctx, self._options, status, self._id)
        final.output = list(self._output)
        self._final = final
        return final
