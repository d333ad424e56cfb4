"""What a relayed Chat stream loses on its way to a client that did not ask for usage.

The fast path always asks the upstream for `stream_options.include_usage`, since the
gateway meters every request. OpenAI then adds `"usage":null` to every chunk and ends with
one chunk whose `choices` is empty and which carries the usage. A client that did not ask
gets neither from OpenAI itself, and the usual loop (`chunk.choices[0].delta`) fails on
that last chunk, so both are taken out. Other chunks with no choices (Azure's content
filter results) carry no usage and stay.
"""

from __future__ import annotations

import re

__all__ = ["drop_unasked_usage"]

_NULL_USAGE = re.compile(rb', ?"usage": ?null')
_NO_CHOICES = re.compile(rb'"choices": ?\[\]')
_SOME_USAGE = re.compile(rb'"usage": ?\{')


def drop_unasked_usage(frames: bytes) -> bytes:
    """`frames`: whole SSE frames (each ended by a blank line, the last maybe not)."""
    frames = _NULL_USAGE.sub(b"", frames)
    if _NO_CHOICES.search(frames) is None:
        return frames
    pieces = frames.split(b"\n\n")
    kept = [piece + b"\n\n" for piece in pieces[:-1] if not _is_usage_chunk(piece)]
    return b"".join(kept) + pieces[-1]


def _is_usage_chunk(frame: bytes) -> bool:
    return _NO_CHOICES.search(frame) is not None and _SOME_USAGE.search(frame) is not None
