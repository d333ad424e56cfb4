"""inflate_capped: a fetched answer's gzip or deflate body decoded under the byte limit, by
the decoding request bodies go through (content_decoding.py)."""

from __future__ import annotations

import gzip
import time
import zlib

import pytest

from polyrelay.fetch.body import BodyTooLarge, inflate_capped


def test_gzip_deflate_and_identity_decode() -> None:
    assert inflate_capped(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 10) == b"abcd"
    assert inflate_capped(zlib.compress(b"page"), " Deflate ", 10) == b"page"
    assert inflate_capped(b"page", "", 10) == b"page"


def test_the_limit_holds_for_the_inflated_size() -> None:
    with pytest.raises(BodyTooLarge):
        inflate_capped(gzip.compress(bytes(1024 * 1024)), "gzip", 1000)
    with pytest.raises(BodyTooLarge):
        inflate_capped(b"x" * 11, "identity", 10)


def test_corrupt_data_and_other_codings_are_value_errors() -> None:
    with pytest.raises(ValueError, match="does not inflate"):
        inflate_capped(gzip.compress(b"page")[:-4], "gzip", 10)
    with pytest.raises(ValueError, match="not accepted"):
        inflate_capped(b"page", "br", 10)


def test_many_tiny_members_are_refused_at_once() -> None:
    """A server's answer of 50,000 empty gzip members (1 MB): each member's rest was copied
    whole, quadratic in the members (0.65 s of the event loop; 4 MB took 32 s); the
    members are now counted."""
    members = gzip.compress(b"") * 50_000
    started = time.perf_counter()
    with pytest.raises(ValueError, match="members"):
        inflate_capped(members, "gzip", 10_000_000)
    assert time.perf_counter() - started < 0.5
