"""The legacy `functions` API through the Chat frontend: `role: "function"` results and
assistant `function_call`s decode to paired tool calls and results; a request with
`functions` (and no `tools`) gets its answer's call back as `function_call`, unary and
streamed, as OpenAI answers it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openai.types.chat import ChatCompletion
from tests.unit.builders import openai_sse_client

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    FunctionTool,
    Message,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    Role,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    Usage,
)

FRONTEND = OpenAIChatFrontend()
FUNCTIONS = [{"name": "get_weather", "parameters": {"type": "object"}}]
ARGS = '{"city":"Paris"}'
# A two-turn legacy exchange, as the openai SDK's users send it back.
HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "get_weather", "arguments": ARGS},
    },
    {"role": "function", "name": "get_weather", "content": "sunny"},
]


def _decode(ctx: RequestContext | None = None, **fields: Any) -> ChatRequest:
    body = {"model": "m", "messages": HISTORY, **fields}
    return FRONTEND.decode(encode(body), ctx or RequestContext())


# --- decode ---------------------------------------------------------------------------


def test_function_call_and_function_result_pair_by_position() -> None:
    ctx = RequestContext()
    req = _decode(ctx, functions=FUNCTIONS)
    call = ToolCallPart(id="call_legacy_2", name="get_weather", arguments=ARGS)
    result = ToolResultPart(
        tool_call_id="call_legacy_2", content=(TextPart(text="sunny"),), name="get_weather"
    )
    assert req.messages[1:] == (
        Message(role=Role.ASSISTANT, parts=(call,)),
        Message(role=Role.TOOL, parts=(result,)),
    )
    assert ctx.untranslatable is None
    ctx.translating()  # a translated request goes through


def test_legacy_ids_suit_every_upstream() -> None:
    """Anthropic's tool_use ids: `^[a-zA-Z0-9_-]+$`."""
    req = _decode(functions=FUNCTIONS)
    [call] = req.messages[1].parts
    assert isinstance(call, ToolCallPart) and re.fullmatch(r"[a-zA-Z0-9_-]+", call.id)


def test_each_result_answers_the_latest_call_of_its_name() -> None:
    second = [
        {"role": "assistant", "function_call": {"name": "get_weather", "arguments": "{}"}},
        {"role": "function", "name": "get_weather", "content": None},
    ]
    body = {"model": "m", "messages": HISTORY + second, "functions": FUNCTIONS}
    req = FRONTEND.decode(encode(body), RequestContext())
    results = [p for m in req.messages for p in m.parts if isinstance(p, ToolResultPart)]
    assert [(r.tool_call_id, r.content) for r in results] == [
        ("call_legacy_2", (TextPart(text="sunny"),)),
        ("call_legacy_4", ()),
    ]


def test_a_result_with_no_call_is_refused_only_when_translated() -> None:
    """OpenAI takes it, so the fast path relays it; no other upstream has a result
    without a call."""
    messages = [HISTORY[1], {"role": "function", "name": "get_time", "content": "noon"}]
    ctx = RequestContext()
    FRONTEND.decode(encode({"model": "m", "messages": messages}), ctx)
    with pytest.raises(InvalidRequestError) as info:
        ctx.translating()
    assert info.value.param == "messages[1]"
    assert "get_time" in info.value.message


def test_a_function_message_needs_a_name() -> None:
    messages = [HISTORY[1], {"role": "function", "content": "x"}]
    with pytest.raises(InvalidRequestError) as info:
        FRONTEND.decode(encode({"model": "m", "messages": messages}), RequestContext())
    assert info.value.param == "messages[1].name"


def test_assistant_with_text_and_function_call() -> None:
    messages = [
        HISTORY[1],
        {
            "role": "assistant",
            "content": "Let me look.",
            "function_call": HISTORY[2]["function_call"],
        },
    ]
    req = FRONTEND.decode(encode({"model": "m", "messages": messages}), RequestContext())
    assert req.messages[1].parts == (
        TextPart(text="Let me look."),
        ToolCallPart(id="call_legacy_1", name="get_weather", arguments=ARGS),
    )


def test_functions_mark_the_request_as_legacy_and_tools_do_not() -> None:
    legacy, modern = RequestContext(), RequestContext()
    _decode(legacy, functions=FUNCTIONS, function_call="auto")
    tools = [{"type": "function", "function": FUNCTIONS[0]}]
    _decode(modern, tools=tools)
    assert legacy.frontend_state is not None
    assert modern.frontend_state is None


def test_functions_and_tools_are_merged_with_a_warning() -> None:
    ctx = RequestContext()
    tools = [{"type": "function", "function": {"name": "get_time"}}]
    functions = [*FUNCTIONS, {"name": "get_time", "description": "dup"}]
    req = _decode(ctx, tools=tools, functions=functions)
    assert [t.name for t in req.tools] == ["get_time", "get_weather"]
    assert req.tools[0] == FunctionTool(name="get_time")
    assert ctx.frontend_state is None  # answered as `tool_calls`
    assert not ctx.warnings  # the fast path relays both: OpenAI decides
    ctx.translating()
    assert any("'functions' and 'tools'" in w for w in ctx.warnings)


def test_named_function_call_must_name_a_function() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _decode(functions=FUNCTIONS, function_call={"name": "nope"})
    assert info.value.param == "function_call.name"
    req = _decode(functions=FUNCTIONS, function_call={"name": "get_weather"})
    assert req.tool_choice == ToolChoice(mode=ToolChoiceMode.NAMED, name="get_weather")


# --- encode ---------------------------------------------------------------------------


def _legacy_ctx() -> RequestContext:
    ctx = RequestContext(model="my-model")
    FRONTEND.decode(encode({"model": "m", "messages": HISTORY[:2], "functions": FUNCTIONS}), ctx)
    return ctx


def _calls(*names: str) -> ChatResponse:
    parts = tuple(ToolCallPart(id=f"toolu_{n}", name=n, arguments=ARGS) for n in names)
    return ChatResponse(
        id="up", model="up", parts=parts, stop_reason=StopReason.TOOL_USE, usage=Usage()
    )


def test_a_call_is_answered_as_function_call() -> None:
    raw = FRONTEND.encode([_calls("get_weather")], _legacy_ctx())
    choice = ChatCompletion.model_validate_json(raw).choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.content is None and choice.message.tool_calls is None
    call = choice.message.function_call
    assert call is not None and (call.name, call.arguments) == ("get_weather", ARGS)
    assert "tool_calls" not in json.loads(raw)["choices"][0]["message"]


def test_only_the_first_of_several_calls_with_a_warning() -> None:
    ctx = _legacy_ctx()
    raw = FRONTEND.encode([_calls("get_weather", "get_time")], ctx)
    message = ChatCompletion.model_validate_json(raw).choices[0].message
    assert message.function_call is not None and message.function_call.name == "get_weather"
    assert any("2 function calls" in w for w in ctx.warnings)


def test_text_answer_of_a_legacy_request_is_unchanged() -> None:
    text = ChatResponse(
        id="up", model="up", parts=(TextPart(text="sunny"),), stop_reason=StopReason.END_TURN
    )
    raw = FRONTEND.encode([text], _legacy_ctx())
    assert (
        FRONTEND.encode([text], RequestContext(model="my-model")).split(b'"choices"')[1]
        == (raw.split(b'"choices"')[1])
    )


def test_a_tools_request_still_gets_tool_calls() -> None:
    raw = FRONTEND.encode([_calls("get_weather")], RequestContext(model="my-model"))
    choice = ChatCompletion.model_validate_json(raw).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.function_call is None


# --- stream ---------------------------------------------------------------------------


def _events(*names: str) -> list[StreamEvent]:
    events: list[StreamEvent] = [
        MessageStart(id="up", model="up"),
        PartStart(index=0, part=TextPart(text="")),
        TextDelta(index=0, text="Checking."),
        PartStop(index=0),
    ]
    for i, name in enumerate(names, start=1):
        events += [
            PartStart(index=i, part=ToolCallPart(id=f"toolu_{i}", name=name)),
            ToolArgsDelta(index=i, json='{"city":'),
            ToolArgsDelta(index=i, json='"Paris"}'),
            PartStop(index=i),
        ]
    return [*events, MessageStop(stop_reason=StopReason.TOOL_USE)]


def _stream(events: list[StreamEvent], ctx: RequestContext) -> bytes:
    request = ChatRequest(model="m", messages=(), stream=True)
    renderer = FRONTEND.stream_renderer(request, ctx)
    frames = [f for e in events for f in renderer.feed(e)]
    return b"".join([*frames, *renderer.finish()])


def test_stream_sends_function_call_fragments() -> None:
    body = _stream(_events("get_weather"), _legacy_ctx())
    chunks = [json.loads(f[6:]) for f in body.split(b"\n\n") if f.startswith(b"data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert {"function_call": {"name": "get_weather", "arguments": ""}} in deltas
    assert [d["function_call"]["arguments"] for d in deltas if "function_call" in d] == [
        "",
        '{"city":',
        '"Paris"}',
    ]
    assert not any("tool_calls" in d for d in deltas)
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_sdk_accumulates_the_streamed_function_call() -> None:
    client = openai_sse_client(_stream(_events("get_weather"), _legacy_ctx()), "http://gw/v1")
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    fragments = [c.choices[0].delta.function_call for c in chunks if c.choices]
    assert "".join(f.arguments or "" for f in fragments if f) == ARGS
    assert [f.name for f in fragments if f and f.name] == ["get_weather"]
    assert chunks[-1].choices[0].finish_reason == "function_call"


def test_stream_keeps_only_the_first_call_with_a_warning() -> None:
    ctx = _legacy_ctx()
    body = _stream(_events("get_weather", "get_time"), ctx)
    assert b"get_time" not in body
    assert body.count(b'"function_call":{"arguments"') == 2
    assert any("function calls" in w for w in ctx.warnings)


def test_a_tools_stream_is_unchanged() -> None:
    body = _stream(_events("get_weather"), RequestContext(model="m"))
    assert b'"tool_calls"' in body and b'"function_call"' not in body
    assert b'"finish_reason":"tool_calls"' in body
