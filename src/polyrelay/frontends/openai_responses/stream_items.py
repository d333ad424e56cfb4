"""OutputItemRenderer: the output items of a streamed Response, and their events.

How IR parts become output items (translation.md §9.3 → R). Consecutive IR text parts
share one `message` item, each text part being one content part; the message item closes
when a non-text part starts or the stream ends. A reasoning part is a `reasoning` item with
one summary part; a tool call is a `function_call` item (or `custom_tool_call` for custom
tools, whose input is known only at the end of the part); a server web-search call is a
`web_search_call` item, emitted whole at its `PartStop` once its query is known. With
logprobs asked for (`include`), each `output_text.delta` carries its delta's tokens, and
`output_text.done` and the part all of them. Other parts (tool results, media) have no
Responses output item and are skipped.

Also here: the pre-encoded pieces of the hot `response.output_text.delta` frame, which
`OpenAIResponsesStreamRenderer.feed_texts` (stream.py) joins too.
"""

from __future__ import annotations

import enum

import msgspec

from polyrelay.codec import encode
from polyrelay.context import new_id
from polyrelay.frontends.openai_logprobs import tokens_from_ir
from polyrelay.frontends.openai_responses.encode import (
    SOURCES,
    call_item_from_ir,
    citation_from_ir,
    custom_input,
    output_text,
    reasoning_item_from_ir,
    refusal_content,
    search_status,
    sources_from_ir,
    web_search_item_from_ir,
)
from polyrelay.frontends.openai_responses.options import (
    LOGPROBS_INCLUDE,
    ResponsesOptions,
    ToolNames,
)
from polyrelay.ir import (
    Citation,
    Part,
    ReasoningPart,
    ServerToolCallPart,
    ServerToolResultPart,
    TextDelta,
    TextPart,
    TokenLogprob,
    ToolCallPart,
)
from polyrelay.schemas.openai_responses import (
    ResponseOutputContent,
    ResponseOutputItem,
    ResponseStreamEvent,
)
from polyrelay.sse import encode_event

__all__ = [
    "DIGITS",
    "TEXT_DELTA_HEAD",
    "TEXT_DELTA_TAIL",
    "TEXT_KINDS",
    "OutputItemRenderer",
    "PartKind",
    "digits",
    "encode_json",
]

# The hot frame, `response.output_text.delta`, is joined from pre-encoded pieces (the same
# bytes the event Struct encodes to, 1.3 µs instead of 4 µs per delta).
TEXT_DELTA_HEAD = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":'
)
TEXT_DELTA_TAIL = b',"logprobs":[]}\n\n'
encode_json = msgspec.json.Encoder().encode
# A delta frame is one join of five pieces; `b"%d" %` per frame cost more than the rest of
# the join (bytes formatting goes through a str), so the common sequence numbers are kept.
DIGITS = tuple(b"%d" % n for n in range(2048))


def digits(n: int) -> bytes:
    return DIGITS[n] if n < len(DIGITS) else b"%d" % n


class PartKind(enum.Enum):
    """What the open IR part renders as."""

    TEXT = "text"
    SCORED = "scored"
    """Text with its token logprobs asked for: kept off the hot path, which writes none."""
    REASONING = "reasoning"
    CALL = "call"
    CUSTOM = "custom"
    SEARCH = "search"
    SKIP = "skip"
    REFUSAL = "refusal"


TEXT_KINDS = (PartKind.TEXT, PartKind.SCORED, PartKind.REFUSAL)
"""The kinds that are a content part of the message item."""
_KIND_BY_PART: dict[type, PartKind] = {
    TextPart: PartKind.TEXT,
    ReasoningPart: PartKind.REASONING,
    ToolCallPart: PartKind.CALL,
    ServerToolCallPart: PartKind.SEARCH,
}


class OutputItemRenderer:
    """The item side of `OpenAIResponsesStreamRenderer`, its base class: the output so far,
    the open part, and the events that add, fill and close the items. A base class, not a
    member object: the per-event methods reach this state as `self._…`, with no lookup of
    a member in between."""

    def __init__(self, options: ResponsesOptions | None) -> None:
        self._options = options
        self._names = options.tool_names if options is not None else ToolNames()
        self._seq = 0
        """The next event's sequence_number: the Response's own events count too."""
        self._output: list[ResponseOutputItem] = []
        self._message: ResponseOutputItem | None = None
        self._kind = PartKind.SKIP
        self._shell: Part | None = None
        self._item: ResponseOutputItem | None = None
        self._item_index = 0
        self._message_index = 0
        self._pieces: list[str] = []
        self._scored = options is not None and LOGPROBS_INCLUDE in options.include
        """Logprobs asked for: text parts are `PartKind.SCORED`."""
        self._tokens: list[TokenLogprob] = []
        """The open scored text part's tokens."""
        self._text_delta_middle = b""
        """The open text part's bytes between sequence_number and the delta string."""
        self._citations: list[Citation] = []
        self._signature: str | None = None
        self._searches: dict[str, tuple[ResponseOutputItem, int]] = {}
        """web_search_call items whose search is still running, by call id."""

    def _frame(self, event: ResponseStreamEvent) -> bytes:
        event.sequence_number = self._seq
        self._seq += 1
        return encode_event(encode(event), event=event.type)

    def _text_delta(self, text: str) -> bytes:
        seq = self._seq
        self._seq = seq + 1
        return self._text_delta_at(seq, text)

    def _text_delta_at(self, seq: int, text: str) -> bytes:
        middle = self._text_delta_middle
        return b"".join((TEXT_DELTA_HEAD, digits(seq), middle, encode_json(text), TEXT_DELTA_TAIL))

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
        self._kind = _KIND_BY_PART.get(type(part), PartKind.SKIP)
        if isinstance(part, ToolCallPart) and part.name in self._names.custom:
            self._kind = PartKind.CUSTOM
        elif isinstance(part, TextPart) and part.refusal:
            self._kind = PartKind.REFUSAL
        elif isinstance(part, TextPart) and self._scored:
            self._kind, self._tokens = PartKind.SCORED, list(part.logprobs or ())
        self._shell, self._pieces, self._citations, self._signature = part, [], [], None
        if self._kind in TEXT_KINDS:
            self._text_start(out)
            return
        if self._kind is not PartKind.SKIP:
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
        shell = refusal_content("") if self._kind is PartKind.REFUSAL else output_text("")
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
            case PartKind.TEXT | PartKind.SCORED:
                out.append(self._text_delta(text))
            case PartKind.REASONING:
                summary = ResponseOutputContent(type="summary_text", text="")
                if first:
                    added = "response.reasoning_summary_part.added"
                    out.append(self._frame(self._item_event(added, summary_index=0, part=summary)))
                kind = "response.reasoning_summary_text.delta"
                out.append(self._frame(self._item_event(kind, summary_index=0, delta=text)))
            case PartKind.CALL:
                kind = "response.function_call_arguments.delta"
                out.append(self._frame(self._item_event(kind, delta=text)))
            case PartKind.REFUSAL:
                delta = self._content_event("response.refusal.delta", None)
                delta.delta = text
                out.append(self._frame(delta))
            case PartKind.CUSTOM | PartKind.SEARCH | PartKind.SKIP:
                pass

    def _citation(self, citation: Citation, out: list[bytes]) -> None:
        if self._kind is not PartKind.TEXT and self._kind is not PartKind.SCORED:
            return
        event = self._content_event("response.output_text.annotation.added", None)
        event.annotation_index = len(self._citations)
        event.annotation = citation_from_ir(citation, "".join(self._pieces))
        self._citations.append(citation)
        out.append(self._frame(event))

    def _part_stop(self, out: list[bytes]) -> None:
        text = "".join(self._pieces)
        match self._kind:
            case PartKind.TEXT | PartKind.SCORED:
                self._text_stop(text, out)
            case PartKind.REFUSAL:
                self._refusal_stop(text, out)
            case PartKind.REASONING:
                self._reasoning_stop(text, out)
            case PartKind.CALL | PartKind.CUSTOM:
                self._call_stop(text, out)
            case PartKind.SEARCH:
                self._search_stop(text, out)
            case PartKind.SKIP:
                pass
        self._kind, self._item = PartKind.SKIP, None

    def _scored_delta(self, event: TextDelta, out: list[bytes]) -> None:
        """A text delta with its tokens (none from an upstream without them)."""
        self._pieces.append(event.text)
        tokens = event.logprobs or ()
        self._tokens += tokens
        seq = self._seq
        self._seq = seq + 1
        logprobs = encode_json(tokens_from_ir(tokens, with_bytes=False))
        text = encode_json(event.text)
        middle = self._text_delta_middle
        head = b"".join((TEXT_DELTA_HEAD, digits(seq), middle, text))
        out.append(head + b',"logprobs":' + logprobs + b"}\n\n")

    def _text_stop(self, text: str, out: list[bytes]) -> None:
        tokens = self._tokens if self._kind is PartKind.SCORED else ()
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
        if self._kind is PartKind.CUSTOM:
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
