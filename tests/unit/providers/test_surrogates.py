"""surrogates.py: an emoji's UTF-16 halves, each a lone `\\u` escape in its own delta,
become the emoji; a half that never pairs is U+FFFD, wherever it is."""

from __future__ import annotations

import json

import msgspec
import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import (
    MessageStart,
    PartStart,
    PartStop,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
)
from polyrelay.providers.openai_chat import OpenAIChatStreamParser
from polyrelay.providers.surrogates import Joiner, decode_whole, escaped, loads_whole

HIGH, LOW, EMOJI, FFFD = "\ud83d", "\ude00", "\U0001f600", "\ufffd"


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return b"data: " + json.dumps({**chunk, "choices": [choice]}).encode() + b"\n\n"


def _texts(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_chat_stream_joins_halves_split_across_reads() -> None:
    parser = OpenAIChatStreamParser(RequestContext())
    first = parser.feed(_chunk({"role": "assistant", "content": "a" + HIGH}))
    assert _texts(first) == "a"  # the half is held for the next read
    events = first + parser.feed(_chunk({"content": LOW + "b"}) + _chunk({"content": "c"}))
    events += parser.feed(_chunk({}, "stop") + b"data: [DONE]\n\n") + parser.finish()
    assert _texts(events) == "a" + EMOJI + "bc"
    assert not any(isinstance(e, StreamError) for e in events)


def test_a_half_left_at_the_finish_is_fffd_before_the_part_ends() -> None:
    parser = OpenAIChatStreamParser(RequestContext())
    events = parser.feed(_chunk({"role": "assistant", "content": "a" + HIGH}))
    events += parser.feed(_chunk({}, "length") + b"data: [DONE]\n\n") + parser.finish()
    assert events[2:5] == [
        TextDelta(index=0, text="a"),
        TextDelta(index=0, text=FFFD),
        PartStop(index=0),
    ]


def test_a_stream_cut_after_a_half_ends_with_fffd_then_its_error() -> None:
    parser = OpenAIChatStreamParser(RequestContext())
    events = parser.feed(_chunk({"role": "assistant", "content": HIGH})) + parser.finish()
    assert events[-2] == TextDelta(index=0, text=FFFD)
    assert isinstance(events[-1], StreamError)


def test_the_joiner_pairs_only_deltas_of_the_same_part_and_kind() -> None:
    joiner = Joiner()
    events = joiner.feed(
        [
            ReasoningDelta(index=0, text="r" + HIGH),
            ReasoningDelta(index=0, text=LOW),
            ToolArgsDelta(index=1, json='{"a":"' + HIGH),
            TextDelta(index=1, text=LOW),  # another kind: no pair
            TextDelta(index=1, text="x" + LOW + "y" + HIGH + HIGH),
        ]
    )
    events += joiner.finish([PartStop(index=1)])
    assert events == [
        ReasoningDelta(index=0, text="r"),
        ReasoningDelta(index=0, text=EMOJI),
        ToolArgsDelta(index=1, json='{"a":"'),
        ToolArgsDelta(index=1, json=FFFD),
        TextDelta(index=1, text=FFFD),
        TextDelta(index=1, text=f"x{FFFD}y{FFFD}"),
        TextDelta(index=1, text=FFFD),
        PartStop(index=1),
    ]


def test_a_half_in_another_event_is_fffd() -> None:
    events = Joiner().finish(
        [
            MessageStart(id="m" + LOW, model="up"),
            PartStart(index=0, part=TextPart(text=HIGH + "t")),
            StreamError(status=500, kind="api_error", message="bad " + HIGH),
        ]
    )
    assert events == [
        MessageStart(id="m" + FFFD, model="up"),
        PartStart(index=0, part=TextPart(text=FFFD + "t")),
        StreamError(status=500, kind="api_error", message="bad " + FFFD),
    ]


def test_escaped_looks_for_a_surrogate_escape_in_either_case() -> None:
    assert escaped(b'"\\ud83d"') and escaped(b'"\\uD83D"') and escaped('"\\uDe00"')
    assert not escaped(b'"\\u00e9"') and not escaped('"ud83d"')


class _Text(msgspec.Struct):
    text: str
    count: int = 0


def test_a_whole_answer_reads_a_pair_as_its_character_and_a_lone_half_as_fffd() -> None:
    body = json.dumps({"text": HIGH + LOW + " " + LOW + HIGH, HIGH: 1}).encode()
    assert decode_whole(body, _Text) == _Text(EMOJI + " " + FFFD + FFFD)
    assert loads_whole(body) == {"text": EMOJI + " " + FFFD + FFFD, FFFD: 1}


def test_a_whole_answer_malformed_otherwise_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):  # a half read, and then a wrong type
        decode_whole(json.dumps({"text": HIGH, "count": "x"}).encode(), _Text)
    with pytest.raises(msgspec.DecodeError, match="truncated"):  # the strict error
        decode_whole(b'{"text": "\\ud83d', _Text)
    assert loads_whole(b'{"text": "no escape"') is None
