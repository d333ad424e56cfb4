from __future__ import annotations

import json

import msgspec
import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    FunctionTool,
    ImagePart,
    Message,
    OutputFormat,
    OutputFormatKind,
    ReasoningConfig,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    UserLocation,
    WebSearchTool,
)
from polyrelay.providers import Route
from polyrelay.providers.openai_chat import OpenAIChatProvider

PROVIDER = OpenAIChatProvider()


def _route(base_url: str = "https://api.openai.com/v1", api_key: str | None = "sk-test") -> Route:
    return route(
        "openai",
        public="public",
        upstream="gpt-4.1",
        base_url=base_url,
        api_key=api_key,
        headers={"x-extra": "1"},
    )


def _user(text: str) -> Message:
    return Message(role=Role.USER, parts=(TextPart(text=text),))


def _build(request: ChatRequest, route: Route | None = None, ctx: RequestContext | None = None):
    upstream = PROVIDER.build_request(request, route or _route(), ctx or RequestContext())
    return upstream, json.loads(upstream.body)


def test_url_headers_model_and_minimal_body() -> None:
    upstream, body = _build(ChatRequest(model="public", messages=(_user("hi"),)))
    assert (upstream.method, upstream.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert upstream.headers["authorization"] == "Bearer sk-test"
    assert upstream.headers["x-extra"] == "1"
    assert body == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}


def test_no_api_key_no_authorization_header() -> None:
    upstream, _ = _build(ChatRequest(model="m", messages=(_user("hi"),)), _route(api_key=None))
    assert "authorization" not in upstream.headers


def test_stream_always_asks_for_usage() -> None:
    _, body = _build(ChatRequest(model="m", messages=(_user("hi"),), stream=True))
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_max_tokens_name_depends_on_the_server() -> None:
    request = ChatRequest(model="m", messages=(_user("hi"),), max_tokens=50)
    assert _build(request)[1]["max_completion_tokens"] == 50
    _, body = _build(request, _route("http://localhost:8000/v1"))
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5.1-codex"])
def test_a_reasoning_model_gets_max_completion_tokens_from_any_host(model: str) -> None:
    """They refuse `max_tokens`, on Azure OpenAI or behind a proxy as on api.openai.com."""
    request = ChatRequest(model="m", messages=(_user("hi"),), max_tokens=50)
    azure = "https://example.openai.azure.com/openai/v1"
    reasoning = route("openai", public="p", upstream=model, base_url=azure, api_key="k")
    _, body = _build(request, reasoning)
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    for other in ("gpt-4o", "llama3.1:8b", "gpt-oss-20b", "omni-7b"):
        plain = route("openai", public="p", upstream=other, base_url=azure, api_key="k")
        assert "max_completion_tokens" not in _build(request, plain)[1]


def test_sampling_and_misc_parameters() -> None:
    ctx = RequestContext()
    request = ChatRequest(
        model="m",
        messages=(_user("hi"),),
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop=("END",),
        n=2,
        presence_penalty=0.1,
        frequency_penalty=-0.1,
        seed=7,
        user="u1",
        metadata={"k": "v"},
    )
    _, body = _build(request, ctx=ctx)
    assert {k: body[k] for k in ("temperature", "top_p", "stop", "n", "seed", "user")} == {
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "n": 2,
        "seed": 7,
        "user": "u1",
    }
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.1, -0.1)
    # OpenAI refuses metadata without store: true (which a translated request never sends).
    assert "top_k" not in body and "metadata" not in body
    assert ctx.warnings == [
        "top_k is not supported by this upstream and was ignored",
        "metadata is not supported by this upstream and was ignored",
    ]


def test_system_history_tools_and_results() -> None:
    ctx = RequestContext()
    request = ChatRequest(
        model="m",
        system=(TextPart(text="Be brief."), TextPart(text="Be kind.")),
        messages=(
            _user("weather?"),
            Message(
                role=Role.ASSISTANT,
                parts=(
                    ReasoningPart(text="think", signature="sig", origin="anthropic"),
                    ToolCallPart(id="toolu_1", name="get", arguments='{"a":1}'),
                    ToolCallPart(id="toolu_2", name="get", arguments="{}"),
                ),
            ),
            Message(
                role=Role.TOOL,
                parts=(
                    ToolResultPart(tool_call_id="toolu_1", content=(TextPart(text="sunny"),)),
                    ToolResultPart(
                        tool_call_id="toolu_2",
                        content=(
                            TextPart(text="boom"),
                            ImagePart(media_type="image/png", data="AAAA"),
                        ),
                        is_error=True,
                    ),
                ),
            ),
            Message(role=Role.SYSTEM, parts=(TextPart(text="Now summarise."),)),
        ),
    )
    _, body = _build(request, ctx=ctx)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.\n\nBe kind."},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get", "arguments": '{"a":1}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "toolu_1"},
        {"role": "tool", "content": "Error: boom", "tool_call_id": "toolu_2"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
        },
        {"role": "system", "content": "Now summarise."},
    ]
    assert ctx.warnings == [
        "reasoning parts in assistant history were dropped",
        "images in tool results were moved to a following user message",
    ]


def test_user_media_parts() -> None:
    parts = (
        TextPart(text="look"),
        ImagePart(url="https://x/y.png", detail="low"),
        DocumentPart(media_type="application/pdf", data="JVBE", filename="a.pdf"),
        DocumentPart(text="plain doc"),
    )
    _, body = _build(ChatRequest(model="m", messages=(Message(role=Role.USER, parts=parts),)))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
        },
        {"type": "text", "text": "plain doc"},
    ]


def test_document_url_is_unsupported() -> None:
    msg = Message(role=Role.USER, parts=(DocumentPart(url="https://x/a.pdf"),))
    with pytest.raises(UnsupportedError):
        _build(ChatRequest(model="m", messages=(msg,)))


_CLOSED = {"type": "object", "properties": {}, "additionalProperties": False}
"""A schema OpenAI's strict mode takes."""


def test_a_strict_tool_openai_would_refuse_goes_without_strict() -> None:
    ctx = RequestContext()
    optional = {**_CLOSED, "properties": {"a": {"type": "string"}}}
    open_nested = {**_CLOSED, "properties": {"o": {"type": "object"}}, "required": ["o"]}
    tools = tuple(
        FunctionTool(name=name, parameters=schema, strict=True)
        for name, schema in (("ok", _CLOSED), ("optional", optional), ("nested", open_nested))
    )
    _, body = _build(ChatRequest(model="m", messages=(_user("hi"),), tools=tools), ctx=ctx)
    assert [t["function"].get("strict") for t in body["tools"]] == [True, None, None]
    assert [w.split(" was sent")[0] for w in ctx.warnings] == ["tool 'optional'", "tool 'nested'"]


def test_tools_choice_format_reasoning_web_search() -> None:
    ctx = RequestContext()
    request = ChatRequest(
        model="m",
        messages=(_user("hi"),),
        tools=(FunctionTool(name="f", description="d", parameters=_CLOSED, strict=True),),
        tool_choice=ToolChoice(mode=ToolChoiceMode.NAMED, name="f"),
        parallel_tool_calls=False,
        output_format=OutputFormat(
            kind=OutputFormatKind.JSON_SCHEMA, name="out", schema={"type": "object"}, strict=True
        ),
        reasoning=ReasoningConfig(effort="high"),
        web_search=WebSearchTool(user_location=UserLocation(city="Oslo"), max_uses=3),
    )
    reasoning = route("openai", upstream="o4-mini", base_url="https://api.openai.com/v1")
    _, body = _build(request, reasoning, ctx=ctx)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "d",
                "parameters": _CLOSED,
                "strict": True,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    assert body["reasoning_effort"] == "high"
    assert body["web_search_options"] == {
        "user_location": {"type": "approximate", "approximate": {"city": "Oslo"}}
    }
    assert ctx.warnings == [
        "web search max_uses and domain filters are not supported by this upstream"
    ]


@pytest.mark.parametrize(
    ("mode", "wire"),
    [
        (ToolChoiceMode.AUTO, "auto"),
        (ToolChoiceMode.NONE, "none"),
        (ToolChoiceMode.REQUIRED, "required"),
    ],
)
def test_tool_choice_modes(mode: ToolChoiceMode, wire: str) -> None:
    request = ChatRequest(
        model="m",
        messages=(_user("hi"),),
        tools=(FunctionTool(name="f"),),
        tool_choice=ToolChoice(mode=mode),
    )
    assert _build(request)[1]["tool_choice"] == wire


def test_parallel_tool_calls_needs_tools() -> None:
    _, body = _build(ChatRequest(model="m", messages=(_user("hi"),), parallel_tool_calls=False))
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize(
    ("config", "effort"),
    [
        (ReasoningConfig(budget_tokens=1024), "minimal"),
        (ReasoningConfig(budget_tokens=2048), "low"),
        (ReasoningConfig(budget_tokens=8192), "medium"),
        (ReasoningConfig(budget_tokens=32000), "high"),
        (ReasoningConfig(enabled=False), None),
        (ReasoningConfig(adaptive=True), None),
    ],
)
def test_reasoning_budget_maps_to_nearest_effort(
    config: ReasoningConfig, effort: str | None
) -> None:
    gpt5 = route("openai", public="p", upstream="gpt-5-mini", base_url="http://x/v1", api_key="k")
    request = ChatRequest(model="m", messages=(_user("hi"),), reasoning=config)
    assert _build(request, gpt5)[1].get("reasoning_effort") == effort


@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5.1", "gpt-5.2-codex", "gpt-oss-120b"])
def test_the_least_budget_is_low_for_a_model_without_minimal(model: str) -> None:
    """Only the first gpt-5 models take `minimal`; the others answer it with 400."""
    other = route("openai", public="p", upstream=model, base_url="http://x/v1", api_key="k")
    request = ChatRequest(
        model="m", messages=(_user("hi"),), reasoning=ReasoningConfig(budget_tokens=1024)
    )
    assert _build(request, other)[1]["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    "config",
    [ReasoningConfig(summary="auto"), ReasoningConfig(effort="high", summary="detailed")],
)
def test_a_reasoning_summary_is_warned_with_or_without_an_effort(config: ReasoningConfig) -> None:
    ctx = RequestContext()
    _build(ChatRequest(model="m", messages=(_user("hi"),), reasoning=config), ctx=ctx)
    assert "reasoning summary is not supported by this upstream and was ignored" in ctx.warnings


@pytest.mark.parametrize(
    ("kind", "wire"),
    [
        (OutputFormatKind.TEXT, {"type": "text"}),
        (OutputFormatKind.JSON_OBJECT, {"type": "json_object"}),
    ],
)
def test_simple_response_formats(kind: OutputFormatKind, wire: dict[str, str]) -> None:
    request = ChatRequest(model="m", messages=(_user("hi"),), output_format=OutputFormat(kind=kind))
    assert _build(request)[1]["response_format"] == wire


def test_passthrough_patches_model_and_usage_only() -> None:
    body = {
        "model": "public",
        "messages": [],
        "stream": True,
        "stream_options": {"include_obfuscation": False},
        "x_new": 1,
    }
    upstream = PROVIDER.passthrough_request(body, _route(), True, {})
    sent = msgspec.json.decode(upstream.body)
    assert sent == {
        "model": "gpt-4.1",
        "messages": [],
        "stream": True,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
        "x_new": 1,
    }
    assert upstream.url == "https://api.openai.com/v1/chat/completions"


def test_passthrough_without_stream_leaves_options_alone() -> None:
    upstream = PROVIDER.passthrough_request({"model": "a", "messages": []}, _route(), False, {})
    assert msgspec.json.decode(upstream.body) == {"model": "gpt-4.1", "messages": []}


def test_a_model_that_never_reasons_gets_no_effort() -> None:
    """gpt-4o, gpt-4.1 and the gpt-5 chat models answer any reasoning_effort with 400, and
    Claude Code asks for thinking: it is dropped for them, warned."""
    ctx = RequestContext()
    request = ChatRequest(
        model="m", messages=(_user("hi"),), reasoning=ReasoningConfig(budget_tokens=4096)
    )
    _, body = _build(request, ctx=ctx)  # gpt-4.1
    assert "reasoning_effort" not in body
    assert any("does not reason" in w for w in ctx.warnings)
    _, body = _build(request, route("openai", upstream="gpt-oss-20b"))
    assert body["reasoning_effort"] == "medium"  # a name it does not know: as asked
