"""Content codings of an upstream's answer: the ones the client reads, and the error for
the others.

The client asks for `Accept-Encoding: identity` (provider answers are small and mostly
streamed, and inflating them would cost every request CPU; an operator may configure the
header otherwise), so every coding is one it never asked for; a server, a proxy or a CDN
in front of one may still send gzip or deflate, which it reads.
`deflate` is meant to be zlib-wrapped data (RFC 9110 §8.4.1.2), but many servers send raw
deflate data under that name, as browsers and urllib3 accept: the zlib reading is tried
first and, when the first bytes are refused before anything came out, raw deflate takes
over from the start. Any other coding (`br`, `zstd`, `compress`, several stacked) is an
`UnreadableEncodingError` as soon as the head arrives: a clear error, not its bytes read
as JSON. An error answer (status 400 and up) is kept with an empty body instead
(DISCARDED), so its status still reaches the client: a 429 stays a 429.

Inflated bytes go to the same place the bytes of an uncompressed body go, so the limit
on what the consumer reads (`Http1Response.read`) holds for the inflated size. One socket
read is inflated at most up to `max_length` (`Http1Response` passes what it may still
hold unread, INFLATED_CAP), so a compression bomb (deflate inflates up to ~1000:1) is
stopped there instead of expanding a 256 KiB read to a quarter of a gigabyte first.
"""

from __future__ import annotations

import re
import zlib
from typing import Protocol

from polyrelay.content_decoding import GZIP_WBITS, Deflate

__all__ = [
    "DISCARDED",
    "INFLATED_CAP",
    "Decoder",
    "UnreadableEncodingError",
    "decoder_for",
    "nameable",
    "readable",
]

INFLATED_CAP = 64 * 1024 * 1024
"""The most inflated bytes an answer holds unread (the whole-body limit of the transport,
MAX_BODY_BYTES, is the same)."""

_NAMEABLE = re.compile(r"[a-z0-9][a-z0-9._, -]{0,63}")
"""A coding the error names to the client; another header value is only described."""


def nameable(encoding: str) -> str:
    """A Content-Encoding value as the client may read it: the upstream's own words only
    when they look like coding names."""
    return encoding if _NAMEABLE.fullmatch(encoding) else "that is not a known name"


class UnreadableEncodingError(Exception):
    """The answer is in a content coding the client cannot read."""

    def __init__(self, encoding: str) -> None:
        super().__init__(
            f"the upstream answered with content-encoding {nameable(encoding)}, which the"
            " gateway did not ask for and cannot read"
        )
        self.encoding = encoding


class Decoder(Protocol):
    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        """At most `max_length` bytes (0: all); what is left is `unconsumed_tail`."""
        ...

    def flush(self) -> bytes: ...


class _Discarded:
    """An error answer's body in a coding the client cannot read: its status and headers
    still say what happened (a 429 and its retry-after), so only the body is dropped."""

    __slots__ = ()

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:  # noqa: ARG002
        return b""

    def flush(self) -> bytes:
        return b""


DISCARDED: Decoder = _Discarded()


def decoder_for(encoding: str) -> Decoder | None:
    """The decoder of a Content-Encoding header's value (lower-cased, stripped): None for
    identity. Raises UnreadableEncodingError for a coding it cannot read."""
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(GZIP_WBITS)
    if encoding == "deflate":
        return Deflate()
    raise UnreadableEncodingError(encoding)


def readable(encoding: str) -> bool:
    """Whether the client reads a Content-Encoding value (lower-cased, stripped)."""
    try:
        decoder_for(encoding)
    except UnreadableEncodingError:
        return False
    return True
