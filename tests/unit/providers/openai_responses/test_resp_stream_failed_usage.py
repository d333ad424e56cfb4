"""A Responses stream that ends in `response.failed` still reports what it consumed: the
parser gives that usage ahead of the error, on the full parse and on the relayed
stream's (`usage_only`) parse, so the meter records it whichever path the request took."""

from __future__ import annotations

import json

import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import StreamError, StreamEvent, TextDelta, Usage, UsageDelta
from polyrelay.providers.openai_responses import OpenAIResponsesProvider

from .conftest import make_route

PROVIDER = OpenAIResponsesProvider()
USAGE = {
    "input_tokens": 111,
    "input_tokens_details": {"cached_tokens": 5},
    "output_tokens": 22,
    "output_tokens_details": {"reasoning_tokens": 3},
    "total_tokens": 133,
}


def _event(kind: str, **members: object) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": 0, **members})
    return f"event: {kind}\ndata: {data}\n\n".encode()


def _failing_stream(usage: object) -> bytes:
    shell = {"id": "resp_1", "object": "response", "model": "gpt-5", "output": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    failed = {
        **shell,
        "status": "failed",
        "error": {"code": "server_error", "message": "The model failed mid-answer."},
        "usage": usage,
    }
    return b"".join(
        [
            _event("response.created", response={**shell, "status": "in_progress"}),
            _event(
                "response.output_item.added",
                output_index=0,
                item={"id": "msg_1", "type": "message", "role": "assistant", "content": []},
            ),
            _event("response.content_part.added", output_index=0, content_index=0, part=part),
            _event("response.output_text.delta", output_index=0, content_index=0, delta="par"),
            _event("response.failed", response=failed),
        ]
    )


def _parse(data: bytes, *, relayed: bool, chunk: int) -> list[StreamEvent]:
    route, ctx = make_route(), RequestContext()
    parser = PROVIDER.relay_parser(route, ctx) if relayed else PROVIDER.stream_parser(route, ctx)
    events = [e for i in range(0, len(data), chunk) for e in parser.feed(data[i : i + chunk])]
    return events + parser.finish()


@pytest.mark.parametrize("relayed", [False, True], ids=["translated", "relayed"])
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_failed_response_gives_its_usage_before_the_error(relayed: bool, chunk: int) -> None:
    events = _parse(_failing_stream(USAGE), relayed=relayed, chunk=chunk)
    usage = Usage(input_tokens=111, output_tokens=22, cache_read_tokens=5, reasoning_tokens=3)
    error = StreamError(status=500, kind="api_error", message="The model failed mid-answer.")
    assert events[-2:] == [UsageDelta(usage=usage), error]
    if not relayed:
        assert [e.text for e in events if isinstance(e, TextDelta)] == ["par"]


def test_a_failed_response_without_usage_still_ends_with_its_error() -> None:
    events = _parse(_failing_stream(None), relayed=False, chunk=1 << 20)
    assert isinstance(events[-1], StreamError) and events[-1].status == 500
    assert [e for e in events if isinstance(e, UsageDelta)] == [UsageDelta(usage=Usage())]
