"""Anthropic's cache writes split by lifetime (`usage.cache_creation`) reach the IR usage as
`cache_write_1h_tokens`, wherever Anthropic usage is read: a translated response, its
stream, a relayed stream's parser and a relayed body. A 1-hour write is billed 2x the
input price against 1.25x for a 5-minute one: without the split it was priced as 5m."""

from __future__ import annotations

import json

import pytest
from tests.unit.builders import route

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.ir import MessageStart, StreamEvent, Usage, UsageDelta
from polyrelay.pipeline.metering import usage_of_body
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.anthropic import AnthropicProvider

PROVIDER = AnthropicProvider()
SPLIT = {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 1200}
START_USAGE: JSONObject = {
    "input_tokens": 5,
    "output_tokens": 1,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 40,
    "cache_creation": SPLIT,
}
EXPECTED = Usage(
    input_tokens=5 + 1500 + 40,
    output_tokens=7,
    cache_read_tokens=40,
    cache_write_tokens=1500,
    cache_write_1h_tokens=1200,
)


def _message(usage: JSONObject) -> JSONObject:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }


def _sse(delta_usage: JSONObject) -> bytes:
    events = [
        {"type": "message_start", "message": _message(START_USAGE)},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": delta_usage},
        {"type": "message_stop"},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _last_usage(events: list[StreamEvent]) -> Usage | None:
    usage = None
    for event in events:
        if isinstance(event, UsageDelta | MessageStart) and event.usage is not None:
            usage = event.usage
    return usage


def test_a_response_body_reads_the_1h_writes() -> None:
    body = json.dumps(_message({**START_USAGE, "output_tokens": 7})).encode()
    response = PROVIDER.parse_response(
        UpstreamResponse(status=200, headers={}, body=body),
        None,
        RequestContext(),  # type: ignore[arg-type]
    )
    assert response.usage == EXPECTED


def test_a_relayed_body_reads_the_1h_writes() -> None:
    """The fast path's reader of a non-streamed Messages answer."""
    body = _message({**START_USAGE, "output_tokens": 7})
    assert usage_of_body("anthropic", body) == EXPECTED


def test_without_the_split_every_write_is_5m() -> None:
    usage = {k: v for k, v in START_USAGE.items() if k != "cache_creation"}
    assert usage_of_body("anthropic", _message(usage)).cache_write_1h_tokens == 0


@pytest.mark.parametrize(
    "delta_usage",
    [
        # As the API streams it: message_delta has no cache_creation (nor does the SDK's
        # MessageDeltaUsage), the split of message_start stands.
        {"output_tokens": 7, "cache_creation_input_tokens": 1500},
        {"output_tokens": 7},
        # An upstream that repeats the split in message_delta is read too.
        {"output_tokens": 7, "cache_creation_input_tokens": 1500, "cache_creation": SPLIT},
    ],
)
@pytest.mark.parametrize("relayed", [False, True])
def test_a_stream_reads_the_1h_writes(delta_usage: JSONObject, relayed: bool) -> None:
    """Both the translated stream's parser and the fast path's relay parser."""
    to, ctx = route("anthropic"), RequestContext()
    parser = PROVIDER.relay_parser(to, ctx) if relayed else PROVIDER.stream_parser(to, ctx)
    data = _sse(delta_usage)
    events = [e for i in range(0, len(data), 11) for e in parser.feed(data[i : i + 11])]
    events += parser.finish()
    start = next(e for e in events if isinstance(e, MessageStart))
    assert start.usage is not None and start.usage.cache_write_1h_tokens == 1200
    assert _last_usage(events) == EXPECTED


def test_the_1h_writes_are_summed_with_the_usage() -> None:
    """A tool loop's rounds and `n` choices are summed with `+`."""
    total = EXPECTED + Usage(cache_write_tokens=10, cache_write_1h_tokens=4)
    assert (total.cache_write_tokens, total.cache_write_1h_tokens) == (1510, 1204)
