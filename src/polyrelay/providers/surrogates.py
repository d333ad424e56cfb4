"""Lone UTF-16 surrogates in an upstream's streamed JSON strings.

A server that streams token by token may send a character beyond U+FFFF (an emoji) as
the two halves of its UTF-16 surrogate pair, each escaped in its own delta: one text
ends in `\\ud83d`, the next begins with `\\ude00`. msgspec refuses a lone surrogate
escape, so the event "did not decode" and the stream failed; and a str holding one
cannot be written as UTF-8 for the client either.

So a stream parser whose strict decode refused an event with a `\\ud` escape in it reads
the event with `decode`, which keeps each lone half in its string (the standard library's
decoder does), and from then on passes its events through a `Joiner`. The joiner holds a
high half that ends a delta's text (text, reasoning or tool arguments) until the next
event: when that is a delta of the same part beginning with the low half, the two become
the character; anything else lets the held half out as U+FFFD, as the stream's end does.
Every other lone half, in a delta or in any other event, is U+FFFD.

The common stream pays nothing: a parser reaches `decode` only from its error path, and
only a parser that did holds a joiner (one test per `feed`).

A whole (not streamed) answer has no deltas to join: the standard library's decoder
already reads a pair of escapes as its character, so `decode_whole` (and `loads_whole`,
for the fast path's relayed JSON) make every half left alone U+FFFD. The common answer
pays nothing either: they read again only after the strict decode refused the body.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from polyrelay import codec
from polyrelay.ir import ReasoningDelta, StreamEvent, TextDelta, ToolArgsDelta
from polyrelay.providers import upstream_json

__all__ = ["Joiner", "decode", "decode_whole", "escaped", "loads_whole", "reread"]

T = TypeVar("T")

_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH = ("\ud800", "\udbff")
_REPLACEMENT = "\ufffd"


def escaped(data: bytes | str) -> bool:
    """Whether `data` may hold a surrogate escape (`\\ud…`, either case): only then is
    `decode` worth trying."""
    if isinstance(data, str):
        return "\\ud" in data or "\\uD" in data
    return b"\\ud" in data or b"\\uD" in data


def decode(data: bytes | str, type_: type[T]) -> T:
    """`data` as `type_`, each lone surrogate escape kept in its string as the lone half
    (as upstream_json reads it otherwise). Raises msgspec.DecodeError/ValidationError."""
    return upstream_json.convert(_loads(data), type_)


def _loads(data: bytes | str) -> object:
    """`data` as plain values, a lone half kept as is. Raises msgspec.DecodeError."""
    import json  # noqa: TID251  msgspec refuses lone surrogates; the stdlib keeps them

    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise msgspec.DecodeError(f"JSON is malformed: {exc}") from None


def decode_whole(data: bytes, type_: type[T]) -> T:
    """A whole (not streamed) answer `data` as `type_`, as upstream_json.decode reads
    it; when that refuses JSON that may hold a surrogate escape, read again with each
    lone half U+FFFD (a pair of escapes is its character). Raises upstream_json.decode's
    msgspec.ValidationError/DecodeError."""
    try:
        return upstream_json.decode(data, type_)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError:
        value = loads_whole(data)
        if value is None:
            raise
        return upstream_json.convert(value, type_)


def loads_whole(data: bytes | str) -> object | None:
    """`data`, a whole answer that strict decoding refused, as plain values with each lone
    half U+FFFD; None when it holds no surrogate escape or does not read so either."""
    if not escaped(data):
        return None
    try:
        return _replaced(_loads(data))
    except msgspec.DecodeError:
        return None


def reread(data: bytes | str, type_: type[T]) -> T | None:
    """`data`, which a strict decode refused, read with `decode` when it may hold a
    surrogate escape; None when it holds none or does not read so either. A parser that
    gets an event from it passes its events through a Joiner from then on."""
    if not escaped(data):
        return None
    try:
        return decode(data, type_)
    except msgspec.DecodeError:  # ValidationError included
        return None


def _mended(text: str) -> str:
    """`text` with each adjacent high and low half joined and every other half U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _scrubbed(event: StreamEvent) -> StreamEvent:
    """An event other than a delta, any lone half in its strings U+FFFD."""
    try:
        codec.encode(event)
    except UnicodeEncodeError:
        plain = _replaced(msgspec.to_builtins(event))
        return msgspec.convert(plain, type(event))
    return event


def _replaced(value: object) -> object:
    if isinstance(value, str):
        return _SURROGATE.sub(_REPLACEMENT, value)
    if isinstance(value, dict):
        return {_SURROGATE.sub(_REPLACEMENT, key): _replaced(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    return value


_Delta = TextDelta | ReasoningDelta | ToolArgsDelta


def _text(delta: _Delta) -> str:
    return delta.json if isinstance(delta, ToolArgsDelta) else delta.text


def _with_text(delta: _Delta, text: str) -> _Delta:
    if isinstance(delta, ToolArgsDelta):
        return ToolArgsDelta(index=delta.index, json=text)
    return type(delta)(index=delta.index, text=text)


class Joiner:
    """Per stream, once a lone half was read (see the module doc)."""

    def __init__(self) -> None:
        self._held: _Delta | None = None
        """A delta of the held high half alone, as it goes out if nothing pairs it."""

    def feed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, TextDelta | ReasoningDelta | ToolArgsDelta):
                self._delta(event, out)
            else:
                self._release(out)
                out.append(_scrubbed(event))
        return out

    def finish(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out = self.feed(events)
        self._release(out)
        return out

    def _delta(self, delta: _Delta, out: list[StreamEvent]) -> None:
        text, held = _text(delta), self._held
        if held is not None:
            if type(held) is type(delta) and held.index == delta.index:
                text = _text(held) + text
                self._held = None
            else:
                self._release(out)
        if text and _HIGH[0] <= text[-1] <= _HIGH[1]:
            self._held = _with_text(delta, text[-1])
            text = text[:-1]
        text = _mended(text)
        if text:
            out.append(_with_text(delta, text) if text != _text(delta) else delta)

    def _release(self, out: list[StreamEvent]) -> None:
        held = self._held
        if held is not None:
            self._held = None
            out.append(_with_text(held, _REPLACEMENT))
