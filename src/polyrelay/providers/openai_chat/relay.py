"""What a relayed Chat stream loses on its way to a client that did not ask for usage.

The fast path always asks the upstream for `stream_options.include_usage`, since the
gateway meters every request. OpenAI then ends the stream with one chunk whose `choices`
is empty and which carries the usage. A client that did not ask does not get it from
OpenAI itself, and the usual loop (`chunk.choices[0].delta`) fails on it, so it is taken
out. (The `"usage":null` member OpenAI then adds to the other chunks stays: the SDKs read
it as no usage, and taking it out of every chunk would cost a copy of the whole stream.)
Other chunks with no choices (Azure's content filter results) carry no usage and stay.
"""

from __future__ import annotations

__all__ = ["drop_unasked_usage"]

_NO_CHOICES = (b'"choices":[]', b'"choices": []')
_NULL_USAGE = (b'"usage":null', b'"usage": null')


def drop_unasked_usage(frames: bytes) -> bytes:
    """`frames`: whole SSE frames (each ended by a blank line, the last maybe not). The
    usage chunk is the last chunk without choices, so it is looked for from the end."""
    at = max(frames.rfind(_NO_CHOICES[0]), frames.rfind(_NO_CHOICES[1]))
    if at < 0:
        return frames
    before = frames.rfind(b"\n\n", 0, at)
    start = 0 if before < 0 else before + 2
    end = frames.find(b"\n\n", at)
    end = len(frames) if end < 0 else end + 2
    frame = frames[start:end]
    if b'"usage":' not in frame or any(null in frame for null in _NULL_USAGE):
        return frames
    return frames[:start] + frames[end:]
