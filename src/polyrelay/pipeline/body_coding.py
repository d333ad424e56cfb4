"""Request bodies in a content coding (`Content-Encoding: zstd`, `gzip`, `deflate`, `br`).

Clients compress large bodies: Codex compresses its Responses requests with zstd, others
use gzip; OpenAI's API reads them, so the gateway does too. Codings listed together are
undone last first (RFC 9110 §8.4); `identity` is none. An unknown coding is a 415 naming
the ones read (RFC 9110 §15.5.16), data that does not decode (corrupt, cut short) a 400.

The limit on a body (`max_body_bytes`) holds for its decoded size, the bytes the gateway
parses and relays: each coding is undone under it (content_decoding.py, which stops a
compression bomb early) with the 413 a plain body that large gets.
"""

from __future__ import annotations

from polyrelay.content_decoding import (
    DECODABLE,
    CorruptDataError,
    DecodedTooLargeError,
    decode_capped,
)
from polyrelay.errors import InvalidRequestError, RequestTooLargeError, UnsupportedMediaTypeError
from polyrelay.providers.http1.coding import nameable

__all__ = ["ACCEPTED_CODINGS", "decoded_body"]

ACCEPTED_CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")
_MAX_STACKED = 3
"""Codings one body may be in at once: each one undone costs up to the limit's worth of
work, and no client stacks more than one."""


def decoded_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """`body` with the codings of its Content-Encoding header undone, at most `limit`
    bytes of it: a 413 past that, a 400 for data that does not decode, a 415 for a coding
    the gateway does not read. An empty body is left empty: nothing was coded, and it is
    refused as an empty plain body is."""
    if not content_encoding:
        return body
    codings = _codings(content_encoding)
    if not body:
        return body
    for coding in reversed(codings):
        try:
            body = decode_capped(body, coding, limit)
        except DecodedTooLargeError:
            raise RequestTooLargeError(
                f"Request body is larger than the limit of {limit} bytes once decoded"
                f" from its content-encoding {coding}."
            ) from None
        except CorruptDataError as exc:
            raise InvalidRequestError(
                f"The request body is not valid {coding} data (Content-Encoding: {coding}): {exc}."
            ) from None
    return body


def _codings(header: str) -> list[str]:
    """The header's codings, in the order they were applied; refused unless all read."""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in DECODABLE:
            raise UnsupportedMediaTypeError(
                f"The request body's Content-Encoding {nameable(coding)!r} is not"
                f" supported; the gateway accepts {', '.join(ACCEPTED_CODINGS)}.",
                code="unsupported_content_encoding",
            )
    if len(codings) > _MAX_STACKED:
        raise UnsupportedMediaTypeError(
            f"The request body is in {len(codings)} content codings at once; the gateway"
            f" decodes at most {_MAX_STACKED}.",
            code="unsupported_content_encoding",
        )
    return codings
