"""Request bodies in a content coding (pipeline/body_coding.py): each coding and stacked
ones decode; the limit holds for the decoded size and stops a bomb early, without
expanding it; corrupt or cut data is a 400, an unknown coding a 415."""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard

from polyrelay.content_decoding import CorruptDataError, DecodedTooLargeError, decode_capped
from polyrelay.errors import InvalidRequestError, RequestTooLargeError, UnsupportedMediaTypeError
from polyrelay.pipeline.body_coding import decoded_body

BODY = b'{"model":"gpt-test","input":"' + b"hello there " * 500 + b'"}'
LIMIT = 32 * 1024 * 1024


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": _zstd,
}


@pytest.mark.parametrize("coding", COMPRESSORS)
def test_each_coding_decodes(coding: str) -> None:
    encoded = COMPRESSORS[coding](BODY)
    assert len(encoded) < len(BODY) // 10
    assert decoded_body(encoded, coding, LIMIT) == BODY
    assert decoded_body(encoded, f" {coding.upper()} ", LIMIT) == BODY  # case, spaces


def test_deflate_sent_raw_decodes_too() -> None:
    assert decoded_body(_raw_deflate(BODY), "deflate", LIMIT) == BODY


def test_no_coding_and_identity_leave_the_body() -> None:
    assert decoded_body(BODY, None, LIMIT) is BODY
    assert decoded_body(BODY, "", LIMIT) is BODY
    assert decoded_body(BODY, "identity", LIMIT) is BODY


def test_stacked_codings_are_undone_last_first() -> None:
    # "gzip, zstd": gzip was applied first, so zstd is undone first (RFC 9110 §8.4).
    encoded = _zstd(gzip.compress(BODY))
    assert decoded_body(encoded, "gzip, zstd", LIMIT) == BODY
    assert decoded_body(encoded, "gzip, identity, zstd", LIMIT) == BODY
    with pytest.raises(InvalidRequestError):
        decoded_body(encoded, "zstd, gzip", LIMIT)


def test_concatenated_gzip_members_and_zstd_frames_decode() -> None:
    assert decoded_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 10) == b"abcd"
    assert decoded_body(_zstd(b"ab") + _zstd(b"cd"), "zstd", 10) == b"abcd"


@pytest.mark.parametrize("coding", COMPRESSORS)
def test_the_limit_holds_for_the_decoded_size(coding: str) -> None:
    encoded = COMPRESSORS[coding](BODY)
    assert decoded_body(encoded, coding, len(BODY)) == BODY
    with pytest.raises(RequestTooLargeError) as refused:
        decoded_body(encoded, coding, len(BODY) - 1)
    assert refused.value.status == 413
    assert f"limit of {len(BODY) - 1} bytes" in refused.value.message


@pytest.mark.parametrize(("coding", "level"), [("gzip", 9), ("deflate", 9), ("br", 1), ("zstd", 3)])
def test_a_bomb_stops_at_the_limit_without_expanding(coding: str, level: int) -> None:
    gib = 1024 * 1024 * 1024
    zeros = bytes(16 * 1024 * 1024)
    if coding == "br":
        bomb = brotli.compress(bytes(gib), quality=level)
    elif coding == "zstd":
        compressor = zstandard.ZstdCompressor(level=level).compressobj()
        bomb = b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    else:
        # 16 MiB compressed once and its blocks repeated (a full flush makes them alike and
        # independent): a GiB would take zlib seconds to compress. The trailer's checksum
        # covers 32 MiB only, which the decoder never gets to.
        compressor = zlib.compressobj(level, wbits=31 if coding == "gzip" else 15)
        head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
        piece = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
        bomb = head + piece * 63 + compressor.flush()
    assert len(bomb) < 2 * 1024 * 1024  # a GiB of zeros
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(RequestTooLargeError):
            decoded_body(bomb, coding, LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < 3 * LIMIT  # the limit, a step past it and one copy: never the GiB


@pytest.mark.parametrize("coding", COMPRESSORS)
def test_data_cut_short_is_a_400(coding: str) -> None:
    encoded = COMPRESSORS[coding](BODY)
    with pytest.raises(InvalidRequestError) as refused:
        decoded_body(encoded[:-4], coding, LIMIT)
    assert refused.value.status == 400
    assert f"not valid {coding} data" in refused.value.message


@pytest.mark.parametrize("coding", COMPRESSORS)
def test_data_not_in_the_coding_is_a_400(coding: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        decoded_body(BODY, coding, LIMIT)
    assert refused.value.status == 400
    assert f"not valid {coding} data" in refused.value.message


def test_bytes_after_a_deflate_stream_are_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="after the end"):
        decoded_body(zlib.compress(BODY) + b"{}", "deflate", LIMIT)


@pytest.mark.parametrize("header", ["compress", "foo", "gzip, foo", "zstd;q=1"])
def test_an_unknown_coding_is_a_415_that_lists_the_known(header: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as refused:
        decoded_body(gzip.compress(BODY), header, LIMIT)
    assert refused.value.status == 415
    assert refused.value.message.startswith("The request body's Content-Encoding '")
    assert "gzip, x-gzip, deflate, br, zstd, identity" in refused.value.message


def test_more_stacked_codings_than_any_client_sends_are_refused() -> None:
    encoded = BODY
    for _ in range(4):
        encoded = gzip.compress(encoded)
    with pytest.raises(UnsupportedMediaTypeError, match="4 content codings"):
        decoded_body(encoded, "gzip, gzip, gzip, gzip", LIMIT)


def test_many_members_cost_the_body_once_not_once_per_member() -> None:
    """63 empty gzip members before a 16 MiB one: the rest of the body after each member was
    copied whole (63 copies of 16 MiB, one alive at a time: a peak of 45 MiB); now each
    member's start copies a chunk at most."""
    rest = gzip.compress(bytes(range(256)) * 65536, 1)  # 16 MiB, barely compressible
    encoded = gzip.compress(b"") * 63 + rest
    tracemalloc.start()
    try:
        assert len(decoded_body(encoded, "gzip", LIMIT)) == 16 * 1024 * 1024
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024  # the output and its join (32 MiB): no copy of the input


@pytest.mark.parametrize("coding", COMPRESSORS)
def test_an_empty_body_in_a_coding_is_left_empty(coding: str) -> None:
    # Nothing was coded: refused as an empty plain body is (not "not valid gzip data").
    assert decoded_body(b"", coding, LIMIT) == b""
    with pytest.raises(UnsupportedMediaTypeError):
        decoded_body(b"", "foo", LIMIT)


def test_decode_capped_has_errors_of_its_own() -> None:
    with pytest.raises(DecodedTooLargeError):
        decode_capped(gzip.compress(BODY), "gzip", len(BODY) - 1)
    with pytest.raises(CorruptDataError):
        decode_capped(gzip.compress(BODY)[:-4], "gzip", LIMIT)
