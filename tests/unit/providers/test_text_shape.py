"""TextShape, and the Chat stream parser reading its hot chunks by it: the same events as
decoding every chunk in full, whatever the chunks hold."""

from __future__ import annotations

import msgspec
import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import StreamEvent, TextDelta
from polyrelay.providers import text_shape
from polyrelay.providers.openai_chat import OpenAIChatStreamParser
from polyrelay.providers.text_shape import PROBE, TextShape

HEAD = b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
HOT_HEAD = HEAD + b'[{"index":0,"delta":{"content":'
HOT_TAIL = b'},"logprobs":null,"finish_reason":null}]}'


def _hot(text_token: bytes, tail: bytes = HOT_TAIL) -> bytes:
    return HOT_HEAD + text_token + tail


def _is_probe(data: bytes) -> bool:
    """The check the Chat parser gives: a hot chunk whose text is the probe."""
    try:
        decoded = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return decoded["choices"][0]["delta"] == {"content": PROBE}


def _learned(data: bytes) -> TextShape:
    shape = TextShape(b'"content":')
    shape.learn(data, _is_probe)
    return shape


def test_a_learned_shape_reads_the_texts_of_events_like_it() -> None:
    shape = _learned(_hot(b'"Hi"'))
    assert (shape.head, shape.tail) == (HOT_HEAD, HOT_TAIL)
    events = [_hot(b'" there"'), _hot(b'"say \\"x\\""'), _hot(b'"\\u00e9\\n"'), _hot(b'""')]
    assert shape.texts(events) == [" there", 'say "x"', "é\n", ""]


@pytest.mark.parametrize(
    "token",
    [
        b'"a","refusal":"b"',  # a second member smuggled in after the text
        b'"a"},{"x":"b"',  # the structure changed around it
        b"5",  # not a string
        b"",  # nothing
        b'"a" "b"',  # two strings
        b'"a","b"',  # two strings, which an array reads as two texts
        b'"\xff"',  # not UTF-8
    ],
)
def test_anything_but_one_string_between_head_and_tail_is_refused(token: bytes) -> None:
    shape = _learned(_hot(b'"Hi"'))
    assert shape.texts([_hot(b'"ok"'), _hot(token)]) is None


def test_a_shape_is_not_learned_when_the_key_is_ambiguous_or_the_check_fails() -> None:
    twice = HEAD + b'[{"index":0,"delta":{"content":"a"},"content":"b"}]}'
    assert _learned(twice).head == b""
    assert _learned(HEAD + b'[{"index":0,"delta":{"content":null}}]}').head == b""
    shape = TextShape(b'"content":')
    shape.learn(_hot(b'"Hi"'), lambda data: False)
    assert shape.head == b""


def test_an_escaped_quote_does_not_end_the_text() -> None:
    shape = _learned(_hot(b'"a\\\\\\"b\\\\"'))  # a\"b\ : an escaped quote, then a backslash
    assert (shape.head, shape.tail) == (HOT_HEAD, HOT_TAIL)


def test_learning_stops_after_a_few_attempts() -> None:
    shape = TextShape(b'"content":')
    for _ in range(text_shape._RELEARNS):
        shape.learn(_hot(b'"Hi"'), lambda data: False)
    shape.learn(_hot(b'"Hi"'), _is_probe)
    assert shape.head == b""


# --- the Chat parser ---------------------------------------------------------------


def _frames(*payloads: bytes) -> bytes:
    return b"".join(b"data: " + payload + b"\n\n" for payload in payloads)


def _parse(data: bytes, *, shapes: bool = True) -> list[StreamEvent]:
    parser = OpenAIChatStreamParser(RequestContext())
    if not shapes:
        parser._shape._learned = text_shape._RELEARNS  # never learns: every chunk in full
    return [*parser.feed(data), *parser.finish()]


_OPEN = HEAD + b'[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}'
_FINISH = HEAD + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}'
_USAGE = HEAD + b'[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}'


@pytest.mark.parametrize(
    "middle",
    [
        [_hot(b'"a"'), _hot(b'"b"'), _hot(b'"c"'), _hot(b'"d"')],
        # a member smuggled in: the run is read one by one, so refusal text counts too
        [_hot(b'"a"'), _hot(b'"b"'), _hot(b'"c","refusal":"!"'), _hot(b'"d"')],
        # the same head and tail around an empty text, a null, and bytes that are not UTF-8
        [_hot(b'"a"'), _hot(b'"b"'), _hot(b'""'), _hot(b"null"), _hot(b'"\xffz"')],
        # a field that changes in every chunk (OpenAI's `obfuscation`): no shape holds
        [_hot(b'"a"', HOT_TAIL[:-1] + f',"obfuscation":"{n}"}}'.encode()) for n in range(9)],
        # a tool call in the middle of the text
        [
            _hot(b'"a"'),
            _hot(b'"b"'),
            HEAD + b'[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function",'
            b'"function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}',
            _hot(b'"c"'),
            _hot(b'"d"'),
        ],
    ],
)
def test_the_chat_parser_gives_the_events_of_the_full_decode(middle: list[bytes]) -> None:
    data = _frames(_OPEN, *middle, _FINISH, _USAGE) + b"data: [DONE]\n\n"
    expected = _parse(data, shapes=False)
    assert _parse(data) == expected
    one_by_one = OpenAIChatStreamParser(RequestContext())
    pieces = [one_by_one.feed(data[i : i + 7]) for i in range(0, len(data), 7)]
    assert [e for piece in pieces for e in piece] + one_by_one.finish() == expected


def test_the_chat_parser_reads_a_run_of_hot_chunks_by_their_shape() -> None:
    texts = [f"word {n} " for n in range(20)]
    hot = [_hot(msgspec.json.encode(text)) for text in texts]
    parser = OpenAIChatStreamParser(RequestContext())
    events = parser.feed(_frames(_OPEN, *hot, _FINISH, _USAGE))
    assert parser._shape.head == HOT_HEAD  # learned from the first hot chunk
    assert [e.text for e in events if isinstance(e, TextDelta)] == texts
