"""Reading an HTTP answer's body under a byte limit, and inflating a compressed one under
the same limit: the guard every fetch of the server goes through (the URL fetcher, the
search backends), so that no answer, however it is sent, holds more than the limit.

The limit applies to the bytes as they arrive and again to the inflated bytes: a few
hundred KB of gzip can inflate to gigabytes, so inflating stops as soon as the output
passes the limit instead of producing it all first (aiohttp's automatic decompression
and `read()` would).
"""

from __future__ import annotations

import aiohttp

from polyrelay.content_decoding import CorruptDataError, DecodedTooLargeError, decode_capped

__all__ = ["INFLATABLE", "BodyTooLarge", "inflate_capped", "read_capped"]

INFLATABLE = ("gzip", "deflate")
"""The content codings `inflate_capped` takes, for an Accept-Encoding header."""
_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The body, as sent or inflated, is larger than `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body as sent; BodyTooLarge at once for a larger Content-Length, else as soon as
    the bytes read pass `limit` (the rest is never read)."""
    if resp.content_length is not None and resp.content_length > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def inflate_capped(raw: bytes, encoding: str, limit: int) -> bytes:
    """`raw` decoded as its Content-Encoding says (identity, gzip or deflate), by the
    decoding request bodies go through (content_decoding.py), bounded alike.

    BodyTooLarge as soon as the output passes `limit` bytes; ValueError for another coding
    or data that does not inflate."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        if len(raw) > limit:
            raise BodyTooLarge(limit)
        return raw
    if coding not in INFLATABLE:
        raise ValueError(f"a {coding}-encoded body is not accepted")
    try:
        return decode_capped(raw, coding, limit)
    except DecodedTooLargeError:
        raise BodyTooLarge(limit) from None
    except CorruptDataError as exc:
        raise ValueError(f"the {coding}-encoded body does not inflate: {exc}") from None
