"""The SSE decoder against the WHATWG rules, fed in every possible split."""

from __future__ import annotations

import pytest

from polyrelay.sse import SSEDecoder, encode_event

STREAM = (
    b"event: a\ndata: x\n\n"
    b"data: 1\r\ndata: 2\r\n\r\n"
    b": a comment\n\ndata:y\n\n"
    b"data: z\rdata: w\r\r"
    b"event: no-data\n\n"
    b"data: last"
)
EXPECTED = [("a", "x"), (None, "1\n2"), (None, "y"), (None, "z\nw"), (None, "last")]


def decode(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.finish()
    return [(e.event, e.data) for e in events]


def test_whole_stream() -> None:
    assert decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_any_split_gives_the_same_events(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode(chunks) == EXPECTED


def test_crlf_split_between_chunks() -> None:
    assert decode([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [(None, "a"), (None, "b")]


def test_encode_round_trip() -> None:
    frames = encode_event(b'{"k":1}', "ping") + encode_event('{"k":2}')
    assert decode([frames]) == [("ping", '{"k":1}'), (None, '{"k":2}')]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, len(STREAM)])
def test_feed_data_gives_the_data_of_feed(size: int) -> None:
    """`feed_data` (the Chat parser's) yields exactly the data `feed` does, as UTF-8."""
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    decoder = SSEDecoder()
    data = [d for chunk in chunks for d in decoder.feed_data(chunk)]
    data += [e.data.encode() for e in decoder.finish()]
    assert data == [value.encode() for _, value in EXPECTED]


def test_feed_data_passes_utf8_through_undecoded() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_data(b'data: {"a":"\xc3\xa9"}\n\ndata: [DONE]\n\n') == [
        '{"a":"é"}'.encode(),
        b"[DONE]",
    ]
