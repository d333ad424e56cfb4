"""Sans-I/O Server-Sent Events: a decoder fed with bytes, and an encoder of frames.

Decoder rules (WHATWG EventSource): lines end in LF, CRLF or CR; a blank line dispatches
the event; `data:` lines are joined with LF; a leading space after the colon is dropped;
lines starting with `:` are comments; an event with no data is not dispatched.

On the hot path `x.find(b"…") < 0` stands for `b"…" not in x`: for bytes, Python 3.11's
`in` first tries its operand as an integer and builds (and drops) a TypeError: ≈ 0.13 µs
more per test here, about twice the whole `find` on a short buffer.

Line endings are normalised to LF first, so an event is simply the text between two
`\\n\\n`; that lets the decoder work on whole blocks with bytes.find instead of walking
lines one by one, which matters on the streaming hot path.
"""

from __future__ import annotations

import re
from itertools import chain

import msgspec

from polyrelay.errors import UpstreamError

__all__ = [
    "MAX_EVENT_BYTES",
    "HeldEvent",
    "LineEndings",
    "SSEDecoder",
    "SSEEvent",
    "encode_event",
    "ends_event",
    "whole_event",
]

MAX_EVENT_BYTES = 64 * 1024 * 1024
"""The largest event held while it arrives: a bound on what a broken upstream can make
the gateway hold (one event with no blank line in a never-ending stream)."""


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


class HeldEvent:
    """The start of an event that spans chunks, in pieces: joined once when the event
    ends, not with every chunk (quadratic in the event's size), and at most
    MAX_EVENT_BYTES (an UpstreamError past that)."""

    __slots__ = ("_pieces", "size")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self.size = 0

    def __bool__(self) -> bool:
        return self.size > 0

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        self.size += len(piece)
        if self.size > MAX_EVENT_BYTES:
            raise UpstreamError(
                f"the upstream sent a stream event larger than {MAX_EVENT_BYTES >> 20} MiB, "
                "the most the gateway holds",
                status=502,
            )
        self._pieces.append(piece)

    def ends_with_lf(self) -> bool:
        return bool(self._pieces) and self._pieces[-1].endswith(b"\n")

    def clear(self) -> None:
        self._pieces, self.size = [], 0

    def take(self, then: bytes = b"") -> bytes:
        """The held bytes followed by `then`; nothing is held after."""
        self._pieces.append(then)
        data = b"".join(self._pieces)
        self.clear()
        return data


_BOM = b"\xef\xbb\xbf"


class LineEndings:
    """A stream's chunks as an SSE reader sees them: CRLF and CR line endings (as
    sse-starlette, llama-cpp-python and others send) made LF, and one leading byte order
    mark dropped (the spec's reader ignores it; kept, it would make the first field name
    `\ufeffdata` and lose the first event). A CR that ends a chunk waits for the next: it
    may be the first half of a CRLF. Callers test `active or chunk.find(b"\r") >= 0`
    before `feed`, which keeps the usual chunk (LF, past the first) to one memchr."""

    __slots__ = ("_cr", "active")

    def __init__(self) -> None:
        self._cr = False
        self.active = True
        """The next chunk needs `feed` whatever it holds: the first one, or a CR waits."""

    @property
    def pending_cr(self) -> bool:
        return self._cr

    def feed(self, chunk: bytes) -> bytes:
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        elif self.active and chunk.startswith(_BOM):  # only the first chunk gets here so
            chunk = chunk[3:]
        if chunk.find(b"\r") >= 0:
            if chunk.endswith(b"\r"):
                chunk = chunk[:-1]
                self._cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self.active = self._cr
        return chunk

    def finish(self) -> bytes:
        """What a CR held at the end stands for."""
        return b"\n" if self._cr else b""


class SSEDecoder:
    """Feed bytes as they arrive; get back the complete events they finish."""

    __slots__ = ("_buffer", "_lines", "_long")

    def __init__(self) -> None:
        self._buffer = b""
        """The start of the next event, when it came with complete ones."""
        self._long = HeldEvent()
        """The start of the next event when it spans chunks with no blank line."""
        self._lines = LineEndings()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        # The region ends in a blank line, so its last piece is empty.
        for block in self._region(chunk).split(b"\n\n")[:-1]:
            # The two common shapes inline, `data: X` and `event: N` + `data: X` (Gemini
            # and the Responses observer read these); anything else line by line.
            if block.startswith(b"data: "):
                if block.find(b"\n") < 0:
                    events.append(SSEEvent(None, block[6:].decode("utf-8", "replace")))
                    continue
            elif block.startswith(b"event: "):
                name, _, rest = block.partition(b"\n")
                if rest.startswith(b"data: ") and rest.find(b"\n") < 0:
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
        """Like `feed`, for parsers that read only each event's data (Chat Completions):
        the data as UTF-8 bytes, for msgspec to decode with no str in between."""
        region = self._region(chunk)
        if not region:
            return []
        # The common shape, every event one `data: X` line: the region is then
        # `data: X1\n\ndata: X2\n\n…`, which one split takes apart. It is that shape
        # exactly when it starts with `data: ` and no newline is left in the pieces.
        if region.startswith(b"data: "):
            data = region[6:-2].split(b"\n\ndata: ")
            if b"".join(data).find(b"\n") < 0:  # a join and a memchr: cheaper than counting
                return data
        return [event.data.encode() for event in _parse_region(region)]

    def feed_named(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """Like `feed`, as (event name, data) in UTF-8 bytes (b"" for no name), for the
        parsers of named events (Anthropic Messages, Responses)."""
        region = self._region(chunk)
        if not region:
            return []
        # The common shape, every event an `event: N` line and a `data: X` line, taken
        # apart by one regex pass. The matches never overlap, so when their lengths add up
        # to the region's they tile it: every block has that shape, nothing was skipped.
        events: list[tuple[bytes, bytes]] = _NAMED_BLOCK.findall(region)
        if sum(map(len, chain.from_iterable(events))) + _NAMED_FRAMING * len(events) == len(region):
            return events
        return _named(_parse_region(region))

    def finish(self) -> list[SSEEvent]:
        """Flush a final event that was not followed by a blank line."""
        events = self.feed(b"\n" if self._lines.pending_cr else b"\n\n")
        rest = self._buffer or self._long.take()
        if rest.strip(b"\n"):
            event = _parse_block(rest)
            if event is not None:
                events.append(event)
        self._buffer = b""
        return events

    def finish_named(self) -> list[tuple[bytes, bytes]]:
        """`finish`, as `feed_named` gives events."""
        return _named(self.finish())

    def _region(self, chunk: bytes) -> bytes:
        """The complete events so far, LF line endings, up to and with the last blank
        line; what follows waits in the buffer."""
        lines = self._lines
        if lines.active or chunk.find(b"\r") >= 0:
            chunk = lines.feed(chunk)
        if self._long:
            if not ends_event(self._long, chunk):
                self._long.add(chunk)
                return b""
            chunk = self._long.take(chunk)
        data = self._buffer + chunk if self._buffer else chunk
        cut = data.rfind(b"\n\n") + 2
        if cut < 2:
            self._buffer = b""
            self._long.add(data)
            return b""
        self._buffer = data[cut:]
        return data[:cut]


def ends_event(held: HeldEvent, chunk: bytes) -> bool:
    """Whether `chunk` ends the held event: a blank line in it, or across the two."""
    return chunk.find(b"\n\n") >= 0 or (chunk.startswith(b"\n") and held.ends_with_lf())


_NAMED_BLOCK = re.compile(rb"event: ([^\n]*)\ndata: ([^\n]*)\n\n")
_NAMED_FRAMING = len(b"event: \ndata: \n\n")
"""The bytes of a `_NAMED_BLOCK` match besides its name and data."""


def _parse_region(region: bytes) -> list[SSEEvent]:
    """The events of complete blocks, one by one (the general parse)."""
    return [event for block in region.split(b"\n\n") if (event := _parse_block(block))]


def _named(events: list[SSEEvent]) -> list[tuple[bytes, bytes]]:
    return [((event.event or "").encode(), event.data.encode()) for event in events]


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


def whole_event(block: bytes) -> bool:
    """Whether `block` (an event's lines, LF) is a whole event with data: `[DONE]` or JSON
    that decodes, not the front of one cut short."""
    event = _parse_block(block)
    if event is None:
        return False
    if event.data == "[DONE]":
        return True
    try:
        msgspec.json.decode(event.data)
    except msgspec.DecodeError:
        return False
    return True
