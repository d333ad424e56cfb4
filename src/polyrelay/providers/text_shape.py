"""TextShape: the texts of a stream's hot delta events, read without decoding the events.

A stream repeats one event many times, each differing from the last only in its text,
e.g. a Chat Completions chunk:

    {"id":"chatcmpl-1",…,"choices":[{"index":0,"delta":{"content":"Hi"},…}]}

Decoding each such event in full (≈ 5,000 instructions for a 200-byte chunk), checking
the decoded structs and the Python calls around them were most of what parsing a stream
cost. Once a parser has decoded one such event in full and found it hot, the shape keeps
the bytes before the text's JSON string (`head`) and after it (`tail`). An event that
starts with `head` and ends with `tail`, with exactly one JSON string between them, is
that same event with another text: JSON is context free, so replacing one string token
by another leaves every other value as it was.

A parser holds consecutive events that start with `head` and end with `tail` (two bytes
tests each) and reads their texts together: the pieces between head and tail, joined as
one JSON array, decode in one call, and the array must hold exactly one string per
event. Anything else in a piece (`"a","x":"b"`, a number, bytes that are not UTF-8) fails
that decode or the count, and the parser then reads those events one by one, in full.

The head and tail are proved, not guessed: the event is rebuilt around a probe string
and decoded in full by the parser's own check, which must find the probe as the text.
An event of another shape (a different id, an extra field, the `obfuscation` padding
some providers add to every event) simply takes the full decode; the shape is then
learned again from such an event, at most `_RELEARNS` times per stream, so a stream
whose events never repeat does not pay for learning on every event.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

__all__ = ["PROBE", "TextShape"]

PROBE = "\x00polyrelay-probe\x00"
"""The text a learned shape is proved with (NULs: no real event's text is this)."""
_PROBE_TOKEN = msgspec.json.encode(PROBE)
_RELEARNS = 4
_decode_strs = msgspec.json.Decoder(list[str]).decode
_JSON_SPACE = frozenset(b" \t\r\n")


class TextShape:
    """The learned shape of one hot event, keyed by the name before its text (e.g.
    `b'"content":'`). `head` is empty until a shape is learned: test it first."""

    __slots__ = ("_key", "_learned", "head", "tail")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.head = b""
        self.tail = b""
        self._learned = 0

    def texts(self, events: list[bytes]) -> list[str] | None:
        """The texts of `events`, each of which starts with `head` and ends with `tail`;
        None unless each holds exactly one JSON string between them."""
        cut, keep = len(self.head), len(self.tail)
        pieces = b",".join([event[cut : len(event) - keep] for event in events])
        try:
            texts = _decode_strs(b"[" + pieces + b"]")
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return texts if len(texts) == len(events) else None

    def learn(self, data: bytes, check: Callable[[bytes], bool]) -> None:
        """Learn from `data`, an event the parser decoded in full and found hot.
        `check(event)` decodes an event in full and says whether it is hot with the text
        `PROBE`."""
        if self._learned >= _RELEARNS:
            return
        self._learned += 1
        self.head = self.tail = b""
        bounds = _value_bounds(data, self._key)
        if bounds is None:
            return
        head, tail = data[: bounds[0]], data[bounds[1] :]
        if check(head + _PROBE_TOKEN + tail):
            self.head, self.tail = head, tail


def _value_bounds(data: bytes, key: bytes) -> tuple[int, int] | None:
    """Where the string after the only `key` in `data` starts and ends (its quotes
    included); None when the key is absent, repeated, or not followed by a string."""
    at = data.find(key)
    if at < 0 or data.find(key, at + 1) >= 0:
        return None
    start = at + len(key)
    while start < len(data) and data[start] in _JSON_SPACE:
        start += 1
    if data[start : start + 1] != b'"':
        return None
    end = data.find(b'"', start + 1)
    while end >= 0 and _escaped(data, end):
        end = data.find(b'"', end + 1)
    return None if end < 0 else (start, end + 1)


def _escaped(data: bytes, quote: int) -> bool:
    """Whether the quote at `quote` is escaped: preceded by an odd run of backslashes."""
    run = 0
    while data[quote - 1 - run] == 0x5C:  # backslash
        run += 1
    return run % 2 == 1
