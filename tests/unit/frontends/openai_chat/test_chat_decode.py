from __future__ import annotations

import time
from pathlib import Path

import pytest

from polyrelay.codec import encode
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    FunctionTool,
    ImagePart,
    Message,
    OutputFormat,
    OutputFormatKind,
    ReasoningConfig,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    UserLocation,
    WebSearchTool,
)

CLIENTS = Path(__file__).parents[3] / "fixtures" / "clients" / "openai_chat"
FRONTEND = OpenAIChatFrontend()
HI = [{"role": "user", "content": "hi"}]


def _decode(body: object, ctx: RequestContext | None = None) -> ChatRequest:
    return FRONTEND.decode(encode(body), ctx or RequestContext())


def _minimal(**fields: object) -> dict[str, object]:
    return {"model": "gpt-4.1", "messages": HI, **fields}


def test_full_client_request() -> None:
    ctx = RequestContext()
    req = FRONTEND.decode((CLIENTS / "tools.json").read_bytes(), ctx)
    assert req.system == (TextPart(text="Be brief."), TextPart(text="Use tools."))
    assert req.messages == (
        Message(
            role=Role.USER,
            parts=(
                TextPart(text="Weather and this?"),
                ImagePart(media_type="image/png", data="iVBORw0K", detail="low"),
                ImagePart(url="https://example.com/a.jpg"),
                DocumentPart(media_type="application/pdf", data="JVBERi0=", filename="r.pdf"),
            ),
        ),
        Message(
            role=Role.ASSISTANT,
            parts=(
                ToolCallPart(id="call_1", name="get_forecast", arguments='{"city":"Oslo"}'),
                ToolCallPart(id="call_2", name="get_forecast", arguments='{"city":"Rome"}'),
            ),
        ),
        Message(
            role=Role.TOOL,
            parts=(
                ToolResultPart(tool_call_id="call_1", content=(TextPart(text="sunny"),)),
                ToolResultPart(tool_call_id="call_2", content=(TextPart(text="rain"),)),
            ),
        ),
        Message(role=Role.SYSTEM, parts=(TextPart(text="Answer in one line."),)),
        Message(role=Role.USER, parts=(TextPart(text="Thanks"),), name="ann"),
    )
    assert req.tools == (
        FunctionTool(
            name="get_forecast",
            description="Forecast",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            strict=True,
        ),
    )
    assert req.tool_choice == ToolChoice(mode=ToolChoiceMode.NAMED, name="get_forecast")
    assert (req.parallel_tool_calls, req.max_tokens, req.temperature, req.top_p) == (
        False,
        256,
        0.2,
        0.9,
    )
    assert (req.stop, req.n, req.presence_penalty, req.frequency_penalty) == (
        ("END",),
        1,
        0.5,
        -0.5,
    )
    assert (req.seed, req.user, req.metadata, req.stream) == (42, "u-1", {"trace": "t1"}, True)
    assert req.output_format == OutputFormat(
        kind=OutputFormatKind.JSON_SCHEMA, name="forecast", schema={"type": "object"}, strict=True
    )
    assert req.reasoning == ReasoningConfig(effort="low")
    assert ctx.include_usage is True
    assert ctx.model == "gpt-4.1"
    assert ctx.translation_warnings == []


def test_max_tokens_and_stop_string() -> None:
    req = _decode(_minimal(max_tokens=10, stop="STOP"))
    assert (req.max_tokens, req.stop) == (10, ("STOP",))


def test_include_usage_only_when_streaming() -> None:
    ctx = RequestContext()
    _decode(_minimal(stream_options={"include_usage": True}), ctx)
    assert ctx.include_usage is False


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ({"type": "text"}, OutputFormatKind.TEXT),
        ({"type": "json_object"}, OutputFormatKind.JSON_OBJECT),
    ],
)
def test_simple_response_formats(fmt: dict[str, str], kind: OutputFormatKind) -> None:
    assert _decode(_minimal(response_format=fmt)).output_format == OutputFormat(kind=kind)


@pytest.mark.parametrize(
    ("wire", "mode"),
    [
        ("none", ToolChoiceMode.NONE),
        ("auto", ToolChoiceMode.AUTO),
        ("required", ToolChoiceMode.REQUIRED),
    ],
)
def test_tool_choice_strings(wire: str, mode: ToolChoiceMode) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert _decode(_minimal(tools=tools, tool_choice=wire)).tool_choice == ToolChoice(mode=mode)


def test_allowed_tools_narrows_the_tool_list() -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("a", "b", "c")]
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "b"}}],
        },
    }
    req = _decode(_minimal(tools=tools, tool_choice=choice))
    assert [t.name for t in req.tools] == ["b"]
    assert req.tool_choice == ToolChoice(mode=ToolChoiceMode.REQUIRED)


def test_legacy_functions_map_to_tools() -> None:
    req = _decode(
        _minimal(
            functions=[{"name": "f", "parameters": {"type": "object"}}], function_call={"name": "f"}
        )
    )
    assert req.tools == (FunctionTool(name="f", parameters={"type": "object"}),)
    assert req.tool_choice == ToolChoice(mode=ToolChoiceMode.NAMED, name="f")


def test_reasoning_effort_none_disables_reasoning() -> None:
    assert _decode(_minimal(reasoning_effort="none")).reasoning == ReasoningConfig(enabled=False)


def test_web_search_options_map_to_web_search() -> None:
    opts = {
        "search_context_size": "low",
        "user_location": {"type": "approximate", "approximate": {"city": "Oslo"}},
    }
    ctx = RequestContext()
    req = _decode(_minimal(web_search_options=opts), ctx)
    assert req.web_search == WebSearchTool(user_location=UserLocation(city="Oslo"))
    assert ctx.translation_warnings == [
        "web_search_options.search_context_size is not supported and was ignored"
    ]


@pytest.mark.parametrize(
    ("field", "value"), [("country", "Norway"), ("timezone", "Europe/Atlantis")]
)
def test_web_search_location_is_validated(field: str, value: str) -> None:
    opts = {"user_location": {"type": "approximate", "approximate": {field: value}}}
    with pytest.raises(InvalidRequestError) as info:
        _decode(_minimal(web_search_options=opts))
    assert info.value.param == f"web_search_options.user_location.approximate.{field}"


def test_safety_identifier_fills_user() -> None:
    assert _decode(_minimal(safety_identifier="s-1")).user == "s-1"


def test_assistant_refusal_and_text_parts() -> None:
    ctx = RequestContext()
    msgs = [
        *HI,
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}],
        },
        {"role": "assistant", "content": None, "refusal": "nope"},
    ]
    req = _decode(_minimal(messages=msgs), ctx)
    assert req.messages[1].parts == (TextPart(text="a"), TextPart(text="no", refusal=True))
    assert req.messages[2].parts == (TextPart(text="nope", refusal=True),)
    # Said by the upstreams that have no refusal (Anthropic, Gemini), not here.
    assert ctx.translation_warnings == []


def test_mistral_thinking_parts_in_assistant_content_are_read_and_left_out() -> None:
    """A Chat client sends magistral's answer back as it came: its `thinking` part (nested
    text and `reference` parts) was refused ('invalid value 'thinking''), so the next turn
    of any conversation with Mistral's reasoning models was a 400. It carries no
    signature, like `reasoning_content`, so it is read and left out of the IR."""
    thinking = {
        "type": "thinking",
        "thinking": [{"type": "text", "text": "hmm"}, {"type": "reference", "reference_ids": [1]}],
        "closed": True,
    }
    msgs = [*HI, {"role": "assistant", "content": [thinking, {"type": "text", "text": "a"}]}]
    req = _decode(_minimal(messages=msgs))
    assert req.messages[1].parts == (TextPart(text="a"),)
    flat = {"type": "thinking", "thinking": "plain"}
    req = _decode(_minimal(messages=[*HI, {"role": "assistant", "content": [flat]}]))
    assert req.messages[1].role == Role.ASSISTANT


def test_plain_base64_file_data_is_accepted() -> None:
    msgs = [
        {
            "role": "user",
            "content": [{"type": "file", "file": {"file_data": "JVBERi0=", "filename": "x.pdf"}}],
        }
    ]
    (part,) = _decode(_minimal(messages=msgs)).messages[0].parts
    assert part == DocumentPart(media_type="application/pdf", data="JVBERi0=", filename="x.pdf")


def test_known_and_unknown_unsupported_fields_warn() -> None:
    ctx = RequestContext()
    _decode(
        _minimal(logprobs=True, top_logprobs=2, store=False, modalities=["text"], brand_new=1), ctx
    )
    assert sorted(ctx.translation_warnings) == [  # logprobs are carried (ChatRequest.logprobs)
        "brand_new is not supported by this route and was ignored",
        "modalities is not supported by this route and was ignored",
    ]


def test_service_tier_and_verbosity_are_carried() -> None:
    ctx = RequestContext()
    request = _decode(_minimal(service_tier="priority", verbosity="low"), ctx)
    assert (request.service_tier, request.verbosity) == ("priority", "low")
    assert not ctx.translation_warnings
    _decode(_minimal(service_tier=1), ctx)
    assert list(ctx.translation_warnings) == ["service_tier is not a string; ignored"]


@pytest.mark.parametrize(
    "body",
    [
        {"messages": HI, "brand_new": 1},  # unknown field first, then a missing one
        {"brand_new": 1, "model": "gpt-4.1", "messages": HI, "n": "two"},
    ],
)
def test_an_unknown_field_does_not_hide_an_invalid_one(body: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _decode(body)
    assert info.value.param in {"model", "n"}


def test_an_unknown_field_does_not_hide_malformed_json_after_it() -> None:
    body = b'{"model": "gpt-4.1", "brand_new": 1, "messages": [{"role": "user", "content": "\\u"}]}'
    with pytest.raises(InvalidRequestError, match="could not parse the JSON body"):
        FRONTEND.decode(body, RequestContext())


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        (
            {"temperature": 2.5},
            "temperature",
            "Invalid 'temperature': 2.5 is greater than the maximum of 2.",
        ),
        (
            {"temperature": -1},
            "temperature",
            "Invalid 'temperature': -1 is less than the minimum of 0.",
        ),
        ({"temperature": "hot"}, "temperature", None),
        ({"top_p": 1.5}, "top_p", "Invalid 'top_p': 1.5 is greater than the maximum of 1."),
        ({"presence_penalty": -3}, "presence_penalty", None),
        ({"frequency_penalty": 2.01}, "frequency_penalty", None),
        ({"n": 0}, "n", "Invalid 'n': 0 is less than the minimum of 1."),
        ({"n": 129}, "n", None),
        ({"n": 1.5}, "n", None),
        ({"max_tokens": 0}, "max_tokens", None),
        ({"max_completion_tokens": 0}, "max_completion_tokens", None),
        ({"max_tokens": "10"}, "max_tokens", None),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", None),
        ({"stop": [1]}, "stop[0]", None),
        ({"seed": "x"}, "seed", None),
        ({"stream": "yes"}, "stream", None),
        ({"user": 5}, "user", None),
        ({"metadata": {"k": 1}}, "metadata[...]", None),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata", None),
        ({"reasoning_effort": "extreme"}, "reasoning_effort", None),
        ({"parallel_tool_calls": "no"}, "parallel_tool_calls", None),
        ({"response_format": {"type": "yaml"}}, "response_format.type", None),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "bad name"}}},
            "response_format.json_schema.name",
            None,
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "a.b"}}]},
            "tools[0].function.name",
            None,
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
            "tools[0].function.name",
            None,
        ),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type", None),
        (
            {"tools": [{"type": "function"}]},
            "tools[0].function",
            "Missing required parameter: 'tools[0].function'.",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice", None),
        ({"tool_choice": "required"}, "tool_choice", None),
        (
            {
                "tools": [{"type": "function", "function": {"name": "a"}}],
                "tool_choice": {"type": "function", "function": {"name": "b"}},
            },
            "tool_choice.function.name",
            None,
        ),
        ({"messages": "hi"}, "messages", None),
        ({"messages": []}, "messages", None),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", None),
        (
            {"messages": [{"content": "x"}]},
            "messages[0].role",
            "Missing required parameter: 'messages[0].role'.",
        ),
        ({"messages": [{"role": "user"}]}, "messages[0].content", None),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            None,
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
            None,
        ),
        (
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x"}}],
                    }
                ]
            },
            "messages[0].content[0].type",
            None,
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", None),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]},
            "messages[0].tool_calls[0].function",
            None,
        ),
        ({"model": 4}, "model", None),
    ],
)
def test_invalid_fields_name_the_param(
    fields: dict[str, object], param: str, message: str | None
) -> None:
    body = _minimal(**fields)
    with pytest.raises(InvalidRequestError) as info:
        _decode(body)
    assert info.value.param == param
    assert info.value.status == 400
    assert param in info.value.message
    if message is not None:
        assert info.value.message == message


def test_missing_model() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _decode({"messages": HI})
    assert info.value.message == "Missing required parameter: 'model'."


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'"text"', b""])
def test_malformed_or_non_object_body_is_400(body: bytes) -> None:
    with pytest.raises(InvalidRequestError) as info:
        FRONTEND.decode(body, RequestContext())
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}
                ]
            },
            "messages[0].content[0].file.file_id",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "c"}}]}, "tools[0].type"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "a"}}],
                "tool_choice": {"type": "custom", "custom": {"name": "c"}},
            },
            "tool_choice.type",
        ),
    ],
)
def test_openai_only_features_are_refused_once_translated(
    fields: dict[str, object], param: str
) -> None:
    """Left out of the IR: the fast path relays the client's own body to OpenAI, which
    takes them; a translated request is refused, naming the field."""
    ctx = RequestContext()
    FRONTEND.decode(encode(_minimal(**fields)), ctx)
    with pytest.raises(UnsupportedError) as info:
        ctx.translating()
    assert info.value.param == param


def test_a_system_prompt_alone_is_refused_once_translated() -> None:
    ctx = RequestContext()
    request = FRONTEND.decode(
        encode({"model": "m", "messages": [{"role": "system", "content": "Be brief."}]}), ctx
    )
    assert request.messages == () and request.system[0].text == "Be brief."
    with pytest.raises(InvalidRequestError) as info:
        ctx.translating()
    assert info.value.param == "messages"
    with pytest.raises(InvalidRequestError):
        FRONTEND.decode(encode({"model": "m", "messages": []}), RequestContext())


def test_runs_of_tool_messages_group_in_linear_time() -> None:
    """Consecutive tool messages are one TOOL message; it used to be rebuilt for each one
    (a tuple copy per message: 50,000 results took 6 s)."""
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in range(50_000)
    ]
    results = [{"role": "tool", "tool_call_id": f"c{i}", "content": "ok"} for i in range(50_000)]
    messages = [*HI, {"role": "assistant", "tool_calls": calls}, *results]
    messages += [{"role": "user", "content": "and?"}, results[0]]
    started = time.process_time()
    request = _decode(_minimal(messages=messages))
    assert time.process_time() - started < 5
    roles = [m.role for m in request.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.USER, Role.TOOL]
    assert len(request.messages[2].parts) == 50_000
    assert request.messages[2].parts[-1] == ToolResultPart(
        tool_call_id="c49999", content=(TextPart(text="ok"),)
    )
    assert len(request.messages[4].parts) == 1
