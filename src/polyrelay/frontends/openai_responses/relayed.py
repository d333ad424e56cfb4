"""RelayedStream: what a relayed Responses stream (the fast path) has told its client, so
that a failure mid-stream continues that response instead of starting a second one.

The relayed frames go to the client untouched; when the upstream breaks off, the gateway
must close the lifecycle the client already follows (openai-responses.md §5): one
`response.failed` with the same `response.id`, the next `sequence_number`, and the output
items added so far with their text so far. The SDK's stream helper raises on any other id.

Theory of operation. The success path costs one list append per chunk: the chunks are
kept as they are and decoded only when `failed_frame` needs them, or folded in once more
than `_FOLD_BYTES` are held (memory stays bounded on a long stream; only such a stream
pays for decoding before it ends). The fold reads the stream as the SDK's accumulator
does: the latest lifecycle Response, items by `output_index`, content and summary parts
by index, and the text deltas of each, joined when the fold is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.errors import UpstreamError
from polyrelay.sse import SSEDecoder, encode_event

__all__ = ["RelayedStream"]

_FOLD_BYTES = 1 << 20
"""Held chunks past this size are folded in (decoded) at once."""
_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
# Delta event → (the item's list of parts and the index field naming one, or None for the
# item itself; the string member the deltas extend).
_DELTAS: dict[str, tuple[tuple[str, str] | None, str]] = {
    "response.output_text.delta": (("content", "content_index"), "text"),
    "response.refusal.delta": (("content", "content_index"), "refusal"),
    "response.reasoning_text.delta": (("content", "content_index"), "text"),
    "response.reasoning_summary_text.delta": (("summary", "summary_index"), "text"),
    "response.function_call_arguments.delta": (None, "arguments"),
    "response.custom_tool_call_input.delta": (None, "input"),
}
_PART_ADDED = {
    "response.content_part.added": ("content", "content_index"),
    "response.reasoning_summary_part.added": ("summary", "summary_index"),
}


class RelayedStream:
    """Fed every relayed chunk (by the fast path's StoringObserver); read once, at a
    failure. Not thread-safe; one per relayed stream."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._held = 0
        self._decoder: SSEDecoder | None = SSEDecoder()
        """None once the stream could not be read (an event past MAX_EVENT_BYTES)."""
        self._response: JSONObject | None = None
        """The latest lifecycle event's Response."""
        self._seq = -1
        self._items: dict[int, JSONObject] = {}
        self._pieces: dict[int, tuple[JSONObject, str, list[str]]] = {}
        """Deltas not yet joined: by id() of the dict they extend, that dict and member."""
        self.ended = False
        """The relayed stream carried its own terminal event (or an `error` event)."""

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._held += len(chunk)
        if self._held > _FOLD_BYTES:
            self._fold()

    def failed_frame(
        self, code: str, message: str, finish: Callable[[JSONObject], None]
    ) -> bytes | None:
        """The `response.failed` frame that ends the relayed response; b"" when the relayed
        stream has ended already, None when no lifecycle event reached the client (the
        caller then starts one). `finish` echoes the client's own fields into the failed
        Response (finish_response); it is passed here, not kept, since what it refers to
        (the request's options) holds this object: a kept one would make a reference
        cycle, which kept every relayed stream's chunks alive until a garbage collection."""
        self._fold(final=True)
        if self.ended:
            return b""
        if self._response is None:
            return None
        response = {**self._response, "status": "failed", "incomplete_details": None}
        response["error"] = {"code": code, "message": message}
        response["output"] = [self._items[i] for i in sorted(self._items)]
        finish(response)
        event = {"type": "response.failed", "sequence_number": self._seq + 1}
        event["response"] = response
        self.ended = True
        return encode_event(codec.encode(event), "response.failed")

    def _fold(self, *, final: bool = False) -> None:
        chunks, self._chunks, self._held = self._chunks, [], 0
        if self._decoder is None:
            return
        try:
            events = [e for chunk in chunks for e in self._decoder.feed(chunk)]
        except UpstreamError:  # an event past MAX_EVENT_BYTES: the client could not read it
            self._decoder = None
            return
        if final:
            # A frame the relay cut short is ended with a blank line for the client, who
            # reads it as an event if its data is whole; so does the fold.
            events += self._decoder.finish()
        for event in events:
            try:
                self._event(codec.decode(event.data))
            except codec.DecodeError:
                continue
        self._join()

    def _event(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        seq, kind = data.get("sequence_number"), data.get("type")
        if isinstance(seq, int) and not isinstance(seq, bool):
            self._seq = seq
        if kind in _ENDS:
            self.ended = True
        elif kind in _LIFECYCLE:
            if isinstance(data.get("response"), dict):
                self._response = data["response"]
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item_event(data)
        elif kind in _DELTAS:
            self._delta(data, *_DELTAS[kind])
        elif kind in _PART_ADDED:
            self._part_added(data, *_PART_ADDED[kind])

    def _item_event(self, data: JSONObject) -> None:
        index, item = data.get("output_index"), data.get("item")
        if isinstance(index, int) and isinstance(item, dict):
            old = self._items.get(index)
            if old is not None:  # its deltas are in the item that replaces it
                self._drop_pieces(old)
            self._items[index] = item

    def _part_added(self, data: JSONObject, member: str, index_field: str) -> None:
        item, part = self._item_of(data), data.get("part")
        if item is None or not isinstance(part, dict):
            return
        parts = item.get(member)
        if not isinstance(parts, list):
            parts = item[member] = []
        index = data.get(index_field)
        if isinstance(index, int) and 0 <= index < len(parts):
            parts[index] = part
        else:
            parts.append(part)

    def _delta(self, data: JSONObject, within: tuple[str, str] | None, name: str) -> None:
        target = self._item_of(data)
        delta = data.get("delta")
        if target is None or not isinstance(delta, str):
            return
        if within is not None:
            parts, index = target.get(within[0]), data.get(within[1])
            if not (isinstance(parts, list) and isinstance(index, int) and index < len(parts)):
                return
            target = parts[index]
            if not isinstance(target, dict):
                return
        held = self._pieces.get(id(target))
        if held is None:
            self._pieces[id(target)] = (target, name, [delta])
        else:
            held[2].append(delta)

    def _item_of(self, data: JSONObject) -> JSONObject | None:
        index = data.get("output_index")
        return self._items.get(index) if isinstance(index, int) else None

    def _drop_pieces(self, item: JSONObject) -> None:
        for member in ("content", "summary"):
            for part in item.get(member) or ():
                self._pieces.pop(id(part), None)
        self._pieces.pop(id(item), None)

    def _join(self) -> None:
        """Write the held deltas into their dicts (once per fold, not per delta)."""
        for target, name, pieces in self._pieces.values():
            before = target.get(name)
            target[name] = "".join([before if isinstance(before, str) else "", *pieces])
        self._pieces.clear()
