"""An upstream on the legacy `functions` API (OpenAI for a request that uses it, and
OpenAI-compatible servers that know only this form) answers with `function_call:
{name, arguments}` (unary) or `delta.function_call` fragments (streamed) and the finish
reason `function_call`. The call reaches the IR as the one tool call it stands for, with
an id the gateway issues (the legacy form has none): without it a translated client got
a tool-use stop reason and no call."""

from __future__ import annotations

import json

import pytest

from polyrelay.context import RequestContext
from polyrelay.ir import (
    ChatResponse,
    PartStart,
    PartStop,
    StopReason,
    StreamAccumulator,
    StreamEvent,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
)
from polyrelay.providers import UpstreamResponse
from polyrelay.providers.openai_chat import OpenAIChatProvider, OpenAIChatStreamParser

_DONE = b"data: [DONE]\n\n"
_HEAD = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
_USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def _chunk(delta: object, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return b"data: " + json.dumps({**_HEAD, "choices": [choice]}).encode() + b"\n\n"


def _stream(*deltas: object, finish: str = "function_call") -> bytes:
    """The chunks a legacy upstream sends: role, the deltas, the finish, usage, [DONE]."""
    usage = b"data: " + json.dumps({**_HEAD, "choices": [], "usage": _USAGE}).encode()
    return b"".join(
        [
            _chunk({"role": "assistant", "content": None}),
            *(_chunk(d) for d in deltas),
            _chunk({}, finish),
            usage + b"\n\n",
            _DONE,
        ]
    )


def _fold(data: bytes, cut: int | None = None) -> tuple[list[StreamEvent], ChatResponse]:
    """Parse `data`, fed in pieces of `cut` bytes if given, and fold the events."""
    parser = OpenAIChatStreamParser(RequestContext())
    step = cut or len(data)
    events = [e for i in range(0, len(data), step) for e in parser.feed(data[i : i + step])]
    events += parser.finish()
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    return events, acc.result()


def _calls(response: ChatResponse) -> list[ToolCallPart]:
    return [p for p in response.parts if isinstance(p, ToolCallPart)]


def _unary(message: dict[str, object], finish: str = "function_call") -> ChatResponse:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _USAGE,
    }
    upstream = UpstreamResponse(status=200, headers={}, body=json.dumps(body).encode())
    [response] = OpenAIChatProvider().parse_choices(upstream)
    return response


# --- unary ----------------------------------------------------------------------------


def test_a_unary_function_call_is_a_tool_call() -> None:
    call = {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    response = _unary({"role": "assistant", "content": None, "function_call": call})
    [part] = response.parts
    assert isinstance(part, ToolCallPart)
    assert (part.name, part.arguments) == ("get_weather", '{"city":"Paris"}')
    assert part.id.startswith("call_") and len(part.id) > len("call_")
    assert response.stop_reason is StopReason.TOOL_USE


def test_a_unary_function_call_after_text_keeps_both_in_order() -> None:
    call = {"name": "get_weather", "arguments": "{}"}
    response = _unary({"role": "assistant", "content": "Looking.", "function_call": call})
    assert [type(p) for p in response.parts] == [TextPart, ToolCallPart]


@pytest.mark.parametrize("finish", ["function_call", "stop"])
def test_a_unary_function_call_without_arguments_gets_an_empty_object(finish: str) -> None:
    """`""` is not JSON; and a compatible server that finishes with `stop` still made
    a call, as with `tool_calls`."""
    call = {"name": "list_things", "arguments": ""}
    response = _unary({"role": "assistant", "content": None, "function_call": call}, finish)
    assert [c.arguments for c in _calls(response)] == ["{}"]
    assert response.stop_reason is StopReason.TOOL_USE


def test_each_unary_function_call_gets_its_own_id() -> None:
    call = {"name": "f", "arguments": "{}"}
    message = {"role": "assistant", "content": None, "function_call": call}
    assert _calls(_unary(message))[0].id != _calls(_unary(message))[0].id


def test_a_null_function_call_is_no_call() -> None:
    response = _unary({"role": "assistant", "content": "Hi", "function_call": None}, "stop")
    assert response.parts == (TextPart(text="Hi"),)
    assert response.stop_reason is StopReason.END_TURN


# --- streamed -------------------------------------------------------------------------


def test_streamed_function_call_fragments_are_one_live_call() -> None:
    data = _stream(
        {"function_call": {"name": "get_weather", "arguments": ""}},
        {"function_call": {"arguments": '{"city":'}},
        {"function_call": {"arguments": '"Paris"'}},
        {"function_call": {"arguments": "}"}},
    )
    events, response = _fold(data)
    [call] = _calls(response)
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
    assert call.id.startswith("call_") and len(call.id) > len("call_")
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.usage.input_tokens == 5
    assert events[1:6] == [
        PartStart(index=0, part=ToolCallPart(id=call.id, name="get_weather")),
        ToolArgsDelta(index=0, json='{"city":'),
        ToolArgsDelta(index=0, json='"Paris"'),
        ToolArgsDelta(index=0, json="}"),
        PartStop(index=0),
    ]


@pytest.mark.parametrize("cut", [1, 7, 64])
def test_streamed_function_call_survives_any_cut_of_the_bytes(cut: int) -> None:
    data = _stream(
        {"function_call": {"name": "get_weather", "arguments": ""}},
        {"function_call": {"arguments": '{"city":"Paris"}'}},
    )
    [call] = _calls(_fold(data, cut)[1])
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')


def test_a_streamed_function_call_after_text_closes_the_text() -> None:
    data = _stream(
        {"content": "Let me "},
        {"content": "check."},
        {"function_call": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
    )
    response = _fold(data)[1]
    assert [type(p) for p in response.parts] == [TextPart, ToolCallPart]
    assert response.parts[0] == TextPart(text="Let me check.")


@pytest.mark.parametrize(
    "fragments",
    [[{"name": "list_things", "arguments": ""}], [{"name": "list_things"}, {"arguments": ""}]],
    ids=["empty", "absent-then-empty"],
)
def test_a_streamed_function_call_without_arguments_gets_an_empty_object(
    fragments: list[dict[str, str]],
) -> None:
    data = _stream(*({"function_call": f} for f in fragments))
    assert [c.arguments for c in _calls(_fold(data)[1])] == ["{}"]


def test_a_streamed_function_call_whose_name_comes_late_is_held_whole() -> None:
    """Without a name it cannot open a part; it is released whole at the finish."""
    data = _stream(
        {"function_call": {"arguments": '{"a":'}},
        {"function_call": {"name": "f", "arguments": "1}"}},
    )
    [call] = _calls(_fold(data)[1])
    assert (call.name, call.arguments) == ("f", '{"a":1}')
    assert call.id.startswith("call_")


def test_streamed_tool_calls_are_unchanged() -> None:
    """The `tool_calls` form keeps its own ids; no legacy call appears."""
    first = {"index": 0, "id": "call_0", "type": "function", "function": {"name": "f"}}
    more = {"index": 0, "function": {"arguments": '{"a":1}'}}
    data = _stream({"tool_calls": [first]}, {"tool_calls": [more]}, finish="tool_calls")
    [call] = _calls(_fold(data)[1])
    assert (call.id, call.arguments) == ("call_0", '{"a":1}')


def test_folding_the_stream_equals_parsing_the_body() -> None:
    """Apart from the issued id, the streamed and unary forms give the same response."""
    call = {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    unary = _unary({"role": "assistant", "content": "Checking.", "function_call": call})
    streamed = _fold(_stream({"content": "Checking."}, {"function_call": call}))[1]
    for response in (unary, streamed):
        text, call = response.parts
        assert text == TextPart(text="Checking.")
        assert isinstance(call, ToolCallPart) and call.id.startswith("call_")
        assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
    assert unary.stop_reason is streamed.stop_reason is StopReason.TOOL_USE
