"""Sans-I/O Server-Sent Events: a decoder fed with bytes, and an encoder of frames.

Decoder rules (WHATWG EventSource): lines end in LF, CRLF or CR; a blank line dispatches
the event; `data:` lines are joined with LF; a leading space after the colon is dropped;
lines starting with `:` are comments; an event with no data is not dispatched.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent", "encode_event"]


@dataclass(slots=True)
class SSEEvent:
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

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            line, found = self._next_line()
            if not found:
                return events
            event = self._process_line(line)
            if event is not None:
                events.append(event)

    def finish(self) -> list[SSEEvent]:
        """Flush a final event that was not followed by a blank line."""
        events: list[SSEEvent] = []
        if self._buffer:
            line, self._buffer = self._buffer, b""
            event = self._process_line(line.rstrip(b"\r\n"))
            if event is not None:
                events.append(event)
        event = self._process_line(b"")
        if event is not None:
            events.append(event)
        return events

    def _next_line(self) -> tuple[bytes, bool]:
        buf = self._buffer
        lf = buf.find(b"\n")
        cr = buf.find(b"\r")
        if lf < 0 and cr < 0:
            return b"", False
        if cr < 0 or (0 <= lf < cr):
            self._buffer = buf[lf + 1 :]
            return buf[:lf], True
        # A CR at the very end may be the first half of CRLF: wait for more bytes.
        if cr == len(buf) - 1:
            return b"", False
        end = cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
        self._buffer = buf[end:]
        return buf[:cr], True

    def _process_line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            if not self._data:
                self._event = None
                return None
            event = SSEEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None
