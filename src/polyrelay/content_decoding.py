"""Data in an HTTP content coding (gzip, x-gzip, deflate, br, zstd) decoded under a limit
on its decoded size: request bodies (pipeline/body_coding.py) and the answers the URL
fetcher and the search backends read (fetch/body.py). `Deflate` also reads an upstream
provider's answers (providers/http1/coding.py), a socket read at a time.

Each coding is undone a bounded step at a time and stops as soon as its output passes
the limit (DecodedTooLargeError), so a compression bomb (zstd turns 32 KiB into 1 GiB)
never expands in memory past the limit plus a step; data that does not decode (corrupt,
cut short, bytes after its end) is a CorruptDataError. The data is given to a decoder a
chunk at a time, so the rest of the data after a gzip member or a zstd frame is never
copied: many tiny members cost the data's size once. zstd and brotli are imported on the
first data that needs them, not at start-up.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "DECODABLE",
    "GZIP_WBITS",
    "CorruptDataError",
    "DecodedTooLargeError",
    "Deflate",
    "decode_capped",
]

_ZSTD_STEP = 256
"""The fewest compressed bytes given to zstd at a time: its decoder has no bound on its
output, and a zstd block of 128 KiB fits in 4 bytes, so a step yields at most 8 MiB. A
step is larger while the output it may still give allows (_ZSTD_RATIO): 256 bytes at a
time is a Python call per 256 bytes of incompressible data (an image): 48 ms for 30 MiB."""
_ZSTD_RATIO = 32 * 1024
"""The most output one zstd input byte can give (a 128 KiB block in 4 bytes)."""
_CHUNK = 64 * 1024
"""Compressed bytes given to a decoder at a time: what follows a member's end is never
more than this, so starting the next member copies no more."""
_BROTLI_STEP = 1024 * 1024
"""The output brotli is asked for at a time (it may give up to about twice that)."""
_MAX_MEMBERS = 64
"""gzip members or zstd frames one body may hold: clients send one, and each costs a
decoder."""
_ZSTD_WINDOW = 8 * 1024 * 1024
"""The largest zstd window read: the bound RFC 8878 §3.1.1.1.2 sets on the coding, so a
frame cannot make the decoder reserve more memory than that."""
GZIP_WBITS = zlib.MAX_WBITS | 32
"""gzip, or zlib data labelled gzip: zlib tells them by their header."""


class _Decoder(Protocol):
    """zlib's decompressobj interface, which every coding's decoder here has."""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        """At most about `max_length` bytes (more may come only past the limit)."""
        ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


class Deflate:
    """`deflate`, zlib-wrapped or raw: the zlib reading is tried first and, when the first
    bytes are refused before anything came out, raw deflate takes over from the start
    (many servers and clients send raw data under that name, as browsers and urllib3
    accept). Upstream answers (providers/http1/coding.py) are read with it too; `eof` and
    `unused_data` as zlib's own."""

    __slots__ = ("_inflater", "_taken")

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
        self._taken: bytearray | None = bytearray()
        """The bytes taken before the first output, to start again from as raw deflate;
        None once the choice is made."""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        taken = self._taken
        if taken is None:
            return self._inflater.decompress(data, max_length)
        taken += data
        try:
            out = self._inflater.decompress(data, max_length)
        except zlib.error:
            self._taken = None
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._inflater.decompress(bytes(taken), max_length)
        if out:
            self._taken = None
        return out

    def flush(self) -> bytes:
        return self._inflater.flush()

    @property
    def eof(self) -> bool:
        return self._inflater.eof

    @property
    def unused_data(self) -> bytes:
        return self._inflater.unused_data


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
        size = start = 0
        while start < len(data):
            # A step's output is at most step * _ZSTD_RATIO: no more than the room left.
            step = max(_ZSTD_STEP, (max_length - size) // _ZSTD_RATIO)
            try:
                parts.append(self._decompressor.decompress(data[start : start + step]))
            except self._error as exc:
                raise CorruptDataError(str(exc)) from None
            start += step
            size += len(parts[-1])
            if self._decompressor.eof:
                self._rest = self._decompressor.unused_data + data[start:]
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
            raise CorruptDataError(str(exc)) from None
        return b"".join(parts)

    @property
    def eof(self) -> bool:
        return bool(self._decompressor.is_finished())


_DECODERS: dict[str, Callable[[], _Decoder]] = {
    "gzip": lambda: zlib.decompressobj(GZIP_WBITS),
    "x-gzip": lambda: zlib.decompressobj(GZIP_WBITS),
    "deflate": Deflate,  # zlib-wrapped, or raw as some clients send it
    "br": _Brotli,
    "zstd": _Zstd,
}
_CONCATENATED = frozenset({"gzip", "x-gzip", "zstd"})
"""Codings whose data may be several members or frames one after another (RFC 1952 §2.2,
RFC 8878 §3): each is decoded in turn. Bytes after the end of another coding's stream
make its data invalid."""


class CorruptDataError(ValueError):
    """The data is not valid in its coding (corrupt, cut short, bytes after its end)."""


class DecodedTooLargeError(Exception):
    """The decoded data is larger than the limit."""


DECODABLE = frozenset(_DECODERS)
"""The codings `decode_capped` reads."""


def decode_capped(data: bytes, coding: str, limit: int) -> bytes:
    """`data` in `coding` (one of DECODABLE) decoded: at most `limit`
    bytes (DecodedTooLargeError as soon as the output passes it, the rest never made),
    CorruptDataError for data that does not decode."""
    parts: list[bytes] = []  # one, but for several gzip members or zstd frames
    size = start = 0
    for _ in range(_MAX_MEMBERS):
        decoder = _DECODERS[coding]()
        try:
            # `start` moves on past each chunk, then back over what the member left unused.
            while not decoder.eof and start < len(data):
                chunk = data[start : start + _CHUNK]
                start += len(chunk)
                parts.append(decoder.decompress(chunk, limit - size + 1))
                size += len(parts[-1])
                if size > limit:  # what is left unread (unconsumed_tail) never is
                    raise DecodedTooLargeError(limit)
        except zlib.error as exc:
            raise CorruptDataError(str(exc)) from None
        if not decoder.eof:  # all the data was read, and the stream has not ended
            raise CorruptDataError("the data ends before the end of the stream")
        start -= len(decoder.unused_data)
        if start == len(data):
            return b"".join(parts)
        if coding not in _CONCATENATED:
            raise CorruptDataError("there are bytes after the end of the stream")
    raise CorruptDataError(f"it has more than {_MAX_MEMBERS} members one after another")
