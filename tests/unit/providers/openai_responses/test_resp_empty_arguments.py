"""A function call whose arguments are `""` reaches the IR as `{}`, streamed or not, as
the Chat and Anthropic parsers give it: `""` is not JSON. Arguments sent are kept."""

from __future__ import annotations

import json

import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import ChatResponse, StreamAccumulator, ToolCallPart
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.openai_responses import OpenAIResponsesProvider

from .conftest import make_route

PROVIDER = OpenAIResponsesProvider()
_SHELL = {"id": "resp_1", "object": "response", "model": "gpt-5", "output": []}
_USAGE = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def _item(arguments: str) -> dict[str, object]:
    return {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "list_things",
            "arguments": arguments, "status": "completed"}  # fmt: skip


def _event(kind: str, **members: object) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": 0, **members})
    return f"event: {kind}\ndata: {data}\n\n".encode()


def _stream(deltas: list[str], done: str) -> bytes:
    item = _item(done)
    return b"".join(
        [
            _event("response.created", response={**_SHELL, "status": "in_progress"}),
            _event("response.output_item.added", output_index=0, item=_item("")),
            *[
                _event("response.function_call_arguments.delta", output_index=0, delta=d)
                for d in deltas
            ],
            _event("response.output_item.done", output_index=0, item=item),
            _event(
                "response.completed",
                response={**_SHELL, "status": "completed", "output": [item], "usage": _USAGE},
            ),
        ]
    )


def _arguments(response: ChatResponse) -> list[str]:
    return [p.arguments for p in response.parts if isinstance(p, ToolCallPart)]


def _fold(data: bytes) -> ChatResponse:
    parser = PROVIDER.stream_parser(make_route(), RequestContext())
    acc = StreamAccumulator()
    for event in parser.feed(data) + parser.finish():
        acc.feed(event)
    return acc.result()


@pytest.mark.parametrize(
    ("deltas", "done", "kept"),
    [
        ([], "", "{}"),
        ([""], "", "{}"),
        ([], '{"a":1}', '{"a":1}'),
        (['{"a":', "1}"], '{"a":1}', '{"a":1}'),
    ],
    ids=["no-delta", "empty-delta", "whole-at-done", "deltas"],
)
def test_streamed_call_arguments(deltas: list[str], done: str, kept: str) -> None:
    assert _arguments(_fold(_stream(deltas, done))) == [kept]


@pytest.mark.parametrize(("sent", "kept"), [("", "{}"), ('{"a":1}', '{"a":1}')])
def test_unary_call_arguments(sent: str, kept: str) -> None:
    body = {**_SHELL, "status": "completed", "output": [_item(sent)], "usage": _USAGE}
    upstream = UpstreamResponse(status=200, headers={}, body=json.dumps(body).encode())
    response = PROVIDER.parse_response(upstream, make_route(), RequestContext())
    assert _arguments(response) == [kept]
