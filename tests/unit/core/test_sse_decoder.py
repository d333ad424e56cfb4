"""The SSE decoder against the WHATWG rules, fed in every possible split."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, strategies as st
from tests.fuzz_support import FUZZ

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


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, len(STREAM)])
def test_feed_named_gives_the_events_of_feed(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    decoder = SSEDecoder()
    named = [pair for chunk in chunks for pair in decoder.feed_named(chunk)]
    named += decoder.finish_named()
    assert named == [((name or "").encode(), value.encode()) for name, value in EXPECTED]


# Regions that look like the one-split shapes of feed_data and feed_named but are not.
NEAR_SHAPES = [
    (b"event: a\ndata: 1\ndata: 2\n\nevent: b\n\n", [("a", "1\n2")]),
    (b"data: 1\n\n\ndata: 2\n\n", [(None, "1"), (None, "2")]),
    (b"data: 1\ndata: 2\n\ndata: 3\n\n", [(None, "1\n2"), (None, "3")]),
    (b"event: a\ndata: 1\n\ndata: 2\n\n", [("a", "1"), (None, "2")]),
    (b"event: a\ndata: 1\n\nevent: b\n: note\n\n", [("a", "1")]),
    (b"event: a\n: note\ndata: 1\n\n", [("a", "1")]),
    (b"data:x\n\ndata:  y\n\n", [(None, "x"), (None, " y")]),
    (b"event:a\ndata:1\n\nevent: b\ndata: 2\n\n", [("a", "1"), ("b", "2")]),
    (b"event: a\nid: 7\n\nevent: b\ndata: 2\n\n", [("b", "2")]),
    (b"data: \n\ndata: [DONE]\n\n", [(None, ""), (None, "[DONE]")]),
]


@pytest.mark.parametrize(("stream", "expected"), NEAR_SHAPES)
def test_shapes_near_the_fast_ones_take_the_general_parse(
    stream: bytes, expected: list[tuple[str | None, str]]
) -> None:
    assert decode([stream]) == expected
    assert SSEDecoder().feed_data(stream) == [value.encode() for _, value in expected]
    named = [((name or "").encode(), value.encode()) for name, value in expected]
    assert SSEDecoder().feed_named(stream) == named


def test_the_fast_shapes_split_exactly() -> None:
    chat = b'data: {"a":"x: y"}\n\ndata: {"b":"event: z"}\n\ndata: [DONE]\n\n'
    assert SSEDecoder().feed_data(chat) == [b'{"a":"x: y"}', b'{"b":"event: z"}', b"[DONE]"]
    named = b"event: one\ndata: {}\n\nevent: two\ndata: data: 2\n\n"
    assert SSEDecoder().feed_named(named) == [(b"one", b"{}"), (b"two", b"data: 2")]


@st.composite
def split_stream(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A stream of lines with every kind of line ending, cut anywhere (empty chunks too)."""
    lines = draw(
        st.lists(
            st.sampled_from(
                [b"data: a", b"data:b", b"event: e", b": c", b"", b"id: 1", b"data: " + b"x" * 50]
            ),
            max_size=30,
        )
    )
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n"]), min_size=len(lines)))
    stream = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    # Cuts anywhere, and often right at a line end or one byte before it.
    line_ends = [at + d for at, byte in enumerate(stream) if byte in b"\r\n" for d in (0, 1)]
    anywhere = st.integers(min_value=0, max_value=len(stream))
    near_ends = st.sampled_from(line_ends) if line_ends else anywhere
    cuts = sorted(draw(st.lists(st.one_of(anywhere, near_ends), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return stream, [stream[a:b] for a, b in itertools.pairwise(bounds)]


@FUZZ
@given(case=split_stream())
def test_every_split_of_every_stream_gives_the_whole_streams_events(
    case: tuple[bytes, list[bytes]],
) -> None:
    stream, chunks = case
    assert decode(chunks) == decode([stream])
    # And each event as soon as its blank line is in: as many as the whole prefix gives.
    decoder, seen = SSEDecoder(), 0
    for k, chunk in enumerate(chunks):
        seen += len(decoder.feed(chunk))
        assert seen == len(SSEDecoder().feed(b"".join(chunks[: k + 1])))
    decoder = SSEDecoder()
    data = [d for chunk in chunks for d in decoder.feed_data(chunk)]
    assert data + [e.data.encode() for e in decoder.finish()] == [
        value.encode() for _, value in decode([stream])
    ]


def test_an_event_ends_as_its_blank_line_arrives_across_chunks() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert [e.data for e in decoder.feed(b"\ndata: b")] == ["a"]
    assert [e.data for e in decoder.finish()] == ["b"]


def test_a_long_event_in_small_chunks_is_read_in_linear_time() -> None:
    """16 MB in 4 KB chunks: joining the held bytes with every chunk took 15 s."""
    event = b"data: " + b"x" * (16 << 20) + b"\n\n"
    decoder = SSEDecoder()
    started = time.process_time()
    data = [
        d for at in range(0, len(event), 4096) for d in decoder.feed_data(event[at : at + 4096])
    ]
    assert time.process_time() - started < 2
    assert data == [event[6:-2]]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    """WHATWG: one leading U+FEFF is ignored; kept, the first field would be
    `\ufeffdata` and the first event lost."""
    chunks = [b"\xef\xbb\xbfdata: 1\n\n", b"data: 2\n\n"]
    feed, data, named = SSEDecoder(), SSEDecoder(), SSEDecoder()
    assert [e.data for chunk in chunks for e in feed.feed(chunk)] == ["1", "2"]
    assert [d for chunk in chunks for d in data.feed_data(chunk)] == [b"1", b"2"]
    named_chunks = [b"\xef\xbb\xbfevent: x\ndata: 1\n\n", b"event: x\ndata: 2\n\n"]
    named_events = [e for chunk in named_chunks for e in named.feed_named(chunk)]
    assert named_events == [(b"x", b"1"), (b"x", b"2")]
    bom_named = SSEDecoder().feed_named(b"\xef\xbb\xbfevent: x\ndata: 1\n\n")
    assert bom_named == [(b"x", b"1")]
