"""Request bodies in a content coding (`Content-Encoding: zstd`, `gzip`, `deflate`, `br`).

Clients compress large bodies: Codex compresses its Responses requests with zstd, others
use gzip; OpenAI's API reads them, so the gateway does too. Codings listed together are
undone last first (RFC 9110 §8.4); `identity` is none. An unknown coding is a 415 naming
the ones read (RFC 9110 §15.5.16), data that does not decode (corrupt, cut short) a 400.

The limit on a body (`max_body_bytes`) holds for its decoded size, the bytes the gateway
parses and relays: each coding is undone a bounded step at a time and stops as soon as
its output passes the limit, with the 413 a plain body that large gets. A compression
bomb (zstd turns 32 KiB into 1 GiB) never expands in memory past the limit plus a step.
zstd and brotli are imported on the first body that needs them, not at start-up.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Protocol

from polyrelay.errors import InvalidRequestError, RequestTooLargeError, UnsupportedMediaTypeError
from polyrelay.providers.http1.coding import Deflate, nameable

__all__ = ["ACCEPTED_CODINGS", "decoded_body"]

ACCEPTED_CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")
_MAX_STACKED = 3
"""Codings one body may be in at once: each one undone costs up to the limit's worth of
work, and no client stacks more than one."""
_ZSTD_STEP = 256
"""Compressed bytes given to zstd at a time: its decoder has no bound on its output, and
a zstd block of 128 KiB fits in 4 bytes, so a step yields at most 8 MiB."""
_BROTLI_STEP = 1024 * 1024
"""The output brotli is asked for at a time (it may give up to about twice that)."""
_MAX_MEMBERS = 64
"""gzip members or zstd frames one body may hold: clients send one, and each costs a
decoder and a copy of the rest of the data."""
_ZSTD_WINDOW = 8 * 1024 * 1024
"""The largest zstd window read: the bound RFC 8878 §3.1.1.1.2 sets on the coding, so a
frame cannot make the decoder reserve more memory than that."""
_GZIP = zlib.MAX_WBITS | 32
"""gzip, or zlib data a client labelled gzip: zlib tells them by their header."""


class _Decoder(Protocol):
    """zlib's decompressobj interface, which every coding's decoder here has."""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        """At most about `max_length` bytes (more may come only past the limit)."""
        ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


class _Zstd:
    """zstandard's decompressobj, given the data a step at a time (see _ZSTD_STEP)."""

    def __init__(self) -> None:
        import zstandard  # only when a zstd body comes (the import budget)

        reader = zstandard.ZstdDecompressor(max_window_size=_ZSTD_WINDOW)
        self._decompressor = reader.decompressobj()
        self._error: type[Exception] = zstandard.ZstdError
        self._rest = b""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        parts: list[bytes] = []
        size = 0
        for start in range(0, len(data), _ZSTD_STEP):
            try:
                parts.append(self._decompressor.decompress(data[start : start + _ZSTD_STEP]))
            except self._error as exc:
                raise _CorruptError(str(exc)) from None
            size += len(parts[-1])
            if self._decompressor.eof:
                self._rest = self._decompressor.unused_data + data[start + _ZSTD_STEP :]
                break
            if size > max_length:
                break
        return b"".join(parts)

    @property
    def eof(self) -> bool:
        return bool(self._decompressor.eof)

    @property
    def unused_data(self) -> bytes:
        return self._rest


class _Brotli:
    """brotli's Decompressor, its output bounded by `output_buffer_limit` (brotli 1.2)."""

    unused_data = b""
    """brotli refuses bytes past the end of its stream (brotli.error)."""

    def __init__(self) -> None:
        import brotli  # only when a br body comes (the import budget)

        self._decompressor: Any = brotli.Decompressor()
        self._error: type[Exception] = brotli.error

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        process = self._decompressor.process
        parts: list[bytes] = []
        size = 0
        try:
            chunk = process(data, output_buffer_limit=_BROTLI_STEP)
            # What the step held back comes out of further calls without input.
            while chunk:
                parts.append(chunk)
                size += len(chunk)
                if size > max_length or self.eof:
                    break
                chunk = process(b"", output_buffer_limit=_BROTLI_STEP)
        except self._error as exc:
            raise _CorruptError(str(exc)) from None
        return b"".join(parts)

    @property
    def eof(self) -> bool:
        return bool(self._decompressor.is_finished())


_DECODERS: dict[str, Callable[[], _Decoder]] = {
    "gzip": lambda: zlib.decompressobj(_GZIP),
    "x-gzip": lambda: zlib.decompressobj(_GZIP),
    "deflate": Deflate,  # zlib-wrapped, or raw as some clients send it
    "br": _Brotli,
    "zstd": _Zstd,
}
_CONCATENATED = frozenset({"gzip", "x-gzip", "zstd"})
"""Codings whose data may be several members or frames one after another (RFC 1952 §2.2,
RFC 8878 §3): each is decoded in turn. Bytes after the end of another coding's stream
make its data invalid."""


class _CorruptError(Exception):
    pass


def decoded_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """`body` with the codings of its Content-Encoding header undone, at most `limit`
    bytes of it: a 413 past that, a 400 for data that does not decode, a 415 for a coding
    the gateway does not read."""
    if not content_encoding:
        return body
    codings = _codings(content_encoding)
    for coding in reversed(codings):
        body = _undone(coding, body, limit)
    return body


def _codings(header: str) -> list[str]:
    """The header's codings, in the order they were applied; refused unless all read."""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in _DECODERS:
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


def _undone(coding: str, data: bytes, limit: int) -> bytes:
    parts: list[bytes] = []  # one, but for several gzip members or zstd frames
    size = 0
    for _ in range(_MAX_MEMBERS):
        decoder = _DECODERS[coding]()
        try:
            parts.append(decoder.decompress(data, limit - size + 1))
        except (zlib.error, _CorruptError) as exc:
            raise _invalid(coding, str(exc)) from None
        size += len(parts[-1])
        if size > limit:
            raise RequestTooLargeError(
                f"Request body is larger than the limit of {limit} bytes once decoded"
                f" from its content-encoding {coding}."
            )
        if not decoder.eof:  # all the data was read, and the stream has not ended
            raise _invalid(coding, "the data ends before the end of the stream")
        data = decoder.unused_data
        if not data:
            return b"".join(parts)
        if coding not in _CONCATENATED:
            raise _invalid(coding, "there are bytes after the end of the stream")
    raise _invalid(coding, f"it has more than {_MAX_MEMBERS} members one after another")


def _invalid(coding: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"The request body is not valid {coding} data (Content-Encoding: {coding}): {why}."
    )
