"""A tool call whose arguments are `""` (vLLM, Ollama, ... on a tool without parameters)
reaches the IR as `{}`, streamed or not: `""` is not JSON, and the clients that read a
finished call's arguments (Codex on Responses) fail on it. Calls with arguments keep
them exactly."""

from __future__ import annotations

import json

import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import (
    ChatResponse,
    PartStart,
    PartStop,
    StreamAccumulator,
    StreamEvent,
    ToolArgsDelta,
    ToolCallPart,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.openai_chat import OpenAIChatProvider, OpenAIChatStreamParser

_DONE = b"data: [DONE]\n\n"
HEAD = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _chunk(delta: object, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + json.dumps({**HEAD, "choices": [choice]}).encode() + b"\n\n"


def _call(index: int, arguments: str | None, name: str | None = "list_things") -> object:
    """A tool-call delta: the first of a call has its id and name; `None`: no arguments."""
    function = {"name": name} if name else {}
    if arguments is not None:
        function["arguments"] = arguments
    head = {"id": f"call_{index}", "type": "function"} if name else {}
    return {"tool_calls": [{"index": index, **head, "function": function}]}


def _fold(data: bytes) -> tuple[list[StreamEvent], ChatResponse]:
    parser = OpenAIChatStreamParser(RequestContext())
    events = parser.feed(data) + parser.finish()
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    return events, acc.result()


def _arguments(response: ChatResponse) -> list[str]:
    return [p.arguments for p in response.parts if isinstance(p, ToolCallPart)]


@pytest.mark.parametrize(
    "fragments", [[""], ["", ""], [None]], ids=["empty", "empty-twice", "absent"]
)
def test_a_streamed_call_without_arguments_gets_an_empty_object(
    fragments: list[str | None],
) -> None:
    first, *rest = fragments
    more = [_chunk(_call(0, f, name=None)) for f in rest]
    data = b"".join([_chunk(_call(0, first)), *more, _chunk({}, "tool_calls"), _DONE])
    events, response = _fold(data)
    assert _arguments(response) == ["{}"]
    assert events[1:4] == [
        PartStart(index=0, part=ToolCallPart(id="call_0", name="list_things")),
        ToolArgsDelta(index=0, json="{}"),
        PartStop(index=0),
    ]


def test_held_parallel_calls_without_arguments_get_an_empty_object() -> None:
    """The second call is held while the first streams; both sent `""` only."""
    data = b"".join(
        [
            _chunk(_call(0, "")),
            _chunk(_call(1, "")),
            _chunk(_call(0, "", name=None)),
            _chunk({}, "tool_calls"),
            _DONE,
        ]
    )
    assert _arguments(_fold(data)[1]) == ["{}", "{}"]


def test_streamed_arguments_are_kept_as_sent() -> None:
    data = b"".join(
        [
            _chunk(_call(0, "")),
            _chunk(_call(0, '{"a":', name=None)),
            _chunk(_call(0, "1}", name=None)),
            _chunk(_call(1, '{"b":2}')),
            _chunk({}, "tool_calls"),
            _DONE,
        ]
    )
    events, response = _fold(data)
    assert _arguments(response) == ['{"a":1}', '{"b":2}']
    assert ToolArgsDelta(index=0, json="{}") not in events


@pytest.mark.parametrize(("sent", "kept"), [("", "{}"), ('{"a":1}', '{"a":1}')])
def test_a_unary_call_without_arguments_gets_an_empty_object(sent: str, kept: str) -> None:
    call = {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": sent}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }
    upstream = UpstreamResponse(status=200, headers={}, body=json.dumps(body).encode())
    [response] = OpenAIChatProvider().parse_choices(upstream)
    assert _arguments(response) == [kept]
