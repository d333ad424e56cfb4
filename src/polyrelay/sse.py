"""Sans-I/O Server-Sent Events: a decoder fed with bytes, and an encoder of frames.

Decoder rules (WHATWG EventSource): lines end in LF, CRLF or CR; a blank line dispatches
the event; `data:` lines are joined with LF; a leading space after the colon is dropped;
lines starting with `:` are comments; an event with no data is not dispatched.

Line endings are normalised to LF first, so an event is simply the text between two
`\\n\\n`; that lets the decoder work on whole blocks with bytes.find instead of walking
lines one by one, which matters on the streaming hot path.
"""

from __future__ import annotations

import msgspec

__all__ = ["SSEDecoder", "SSEEvent", "encode_event"]


class SSEEvent(msgspec.Struct, gc=False):
    """One dispatched event. A Struct rather than a dataclass: made in C, several times
    faster to create, and one is made per upstream event on the hot path."""

    event: str | None
    data: str


def encode_event(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE frame. `data` must not contain newlines (compact JSON never does)."""
    body = data.encode() if isinstance(data, str) else data
    if event is None:
        return b"data: " + body + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + body + b"\n\n"


class SSEDecoder:
    """Feed bytes as they arrive; get back the complete events they finish."""

    __slots__ = ("_buffer", "_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._cr = False
        """The last chunk ended in CR, which may be the first half of a CRLF."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._cr or b"\r" in chunk:
            chunk = self._normalise(chunk)
        blocks = (self._buffer + chunk if self._buffer else chunk).split(b"\n\n")
        self._buffer = blocks.pop()
        events: list[SSEEvent] = []
        for block in blocks:
            # The two common shapes inline: `data: X` (Chat), `event: N` + `data: X`
            # (Anthropic, Responses); anything else line by line.
            if block.startswith(b"data: "):
                if b"\n" not in block:
                    events.append(SSEEvent(None, block[6:].decode("utf-8", "replace")))
                    continue
            elif block.startswith(b"event: "):
                name, _, rest = block.partition(b"\n")
                if rest.startswith(b"data: ") and b"\n" not in rest:
                    events.append(
                        SSEEvent(
                            name[7:].decode("utf-8", "replace"), rest[6:].decode("utf-8", "replace")
                        )
                    )
                    continue
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        return events

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Like `feed`, for parsers that read only each event's data (Chat Completions,
        Gemini): the data as UTF-8 bytes, for msgspec to decode with no str in between."""
        if self._cr or b"\r" in chunk:
            chunk = self._normalise(chunk)
        blocks = (self._buffer + chunk if self._buffer else chunk).split(b"\n\n")
        self._buffer = blocks.pop()
        # The common shape, `data: X` alone, in one comprehension; any other block sends
        # the whole chunk through the general parse (same result, slower).
        out = [block[6:] for block in blocks if block[:6] == b"data: " and b"\n" not in block]
        if len(out) == len(blocks):
            return out
        return [event.data.encode() for block in blocks if (event := _parse_block(block))]

    def finish(self) -> list[SSEEvent]:
        """Flush a final event that was not followed by a blank line."""
        events = self.feed(b"\n\n" if not self._cr else b"\n")
        if self._buffer.strip(b"\n"):
            event = _parse_block(self._buffer)
            if event is not None:
                events.append(event)
        self._buffer = b""
        return events

    def _normalise(self, chunk: bytes) -> bytes:
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if b"\r" not in chunk:
            return chunk
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._cr = True
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _parse_block(block: bytes) -> SSEEvent | None:
    """One event's lines (no blank line inside), line by line. None when it carries no
    data. (`SSEDecoder.feed` handles the two common shapes inline, before this.)"""
    event: str | None = None
    data: list[str] = []
    for raw in block.split(b"\n"):
        if not raw or raw.startswith(b":"):
            continue
        field, _, value = raw.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return None
    return SSEEvent(event, "\n".join(data))
