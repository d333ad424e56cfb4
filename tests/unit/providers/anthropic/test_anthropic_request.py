from __future__ import annotations

import json

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
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
    WebSearchTool,
)
from polyrelay.providers import Route
from polyrelay.providers.anthropic import AnthropicProvider

PROVIDER = AnthropicProvider()


def _route(max_output_tokens: int | None = None) -> Route:
    return route(
        "anthropic",
        provider="anthropic",
        public="claude",
        upstream="claude-sonnet-4-5",
        base_url="https://api.anthropic.test/",
        api_key="sk-upstream",
        headers={"x-extra": "1"},
        max_output_tokens=max_output_tokens,
    )


def _user(text: str) -> Message:
    return Message(role=Role.USER, parts=(TextPart(text=text),))


def _build(request: ChatRequest, ctx: RequestContext | None = None) -> dict:
    upstream = PROVIDER.build_request(request, _route(), ctx or RequestContext())
    return json.loads(upstream.body)


def test_url_headers_model_and_defaults() -> None:
    upstream = PROVIDER.build_request(
        ChatRequest(model="claude", messages=(_user("hi"),), stream=True),
        _route(),
        RequestContext(),
    )
    assert upstream.method == "POST"
    assert upstream.url == "https://api.anthropic.test/v1/messages"
    assert upstream.headers["x-api-key"] == "sk-upstream"
    assert upstream.headers["anthropic-version"] == "2023-06-01"
    assert upstream.headers["x-extra"] == "1"
    body = json.loads(upstream.body)
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
        "stream": True,
    }


def test_max_tokens_default_comes_from_model_config() -> None:
    upstream = PROVIDER.build_request(
        ChatRequest(model="claude", messages=(_user("hi"),)), _route(1000), RequestContext()
    )
    assert json.loads(upstream.body)["max_tokens"] == 1000


def test_system_mid_conversation_and_tool_turns() -> None:
    ctx = RequestContext()
    messages = (
        _user("weather?"),
        Message(
            role=Role.ASSISTANT,
            parts=(ToolCallPart(id="toolu_1", name="get", arguments='{"city": "Oslo"}'),),
        ),
        Message(
            role=Role.TOOL,
            parts=(
                ToolResultPart(
                    tool_call_id="toolu_1", content=(TextPart(text="snow"),), is_error=True
                ),
            ),
        ),
        Message(role=Role.SYSTEM, parts=(TextPart(text="be brief"),)),
        _user("thanks"),
    )
    body = _build(
        ChatRequest(
            model="claude",
            messages=messages,
            system=(TextPart(text="sys A"), TextPart(text="sys B", cache_control="5m")),
        ),
        ctx,
    )
    assert body["system"] == [
        {"type": "text", "text": "sys A"},
        {"type": "text", "text": "sys B", "cache_control": {"type": "ephemeral"}},
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get",
        "input": {"city": "Oslo"},
    }
    last = body["messages"][2]["content"]
    assert last[0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "snow",
        "is_error": True,
    }
    assert last[1]["text"] == "<system-reminder>\nbe brief\n</system-reminder>"
    assert last[2] == {"type": "text", "text": "thanks"}
    assert any("system-reminder" in w for w in ctx.warnings)


def test_tool_results_go_first_when_merged_after_user_text() -> None:
    messages = (
        _user("before"),
        Message(role=Role.TOOL, parts=(ToolResultPart(tool_call_id="t1"),)),
    )
    body = _build(ChatRequest(model="claude", messages=messages))
    assert [b["type"] for b in body["messages"][0]["content"]] == ["tool_result", "text"]


def test_invalid_tool_arguments_name_the_call() -> None:
    messages = (
        Message(
            role=Role.ASSISTANT, parts=(ToolCallPart(id="call_9", name="f", arguments="{oops"),)
        ),
    )
    with pytest.raises(InvalidRequestError, match="call_9"):
        _build(ChatRequest(model="claude", messages=messages))


def test_media_parts() -> None:
    parts = (
        ImagePart(media_type="image/png", data="iVBOR"),
        ImagePart(url="https://x.test/a.jpg"),
        DocumentPart(media_type="application/pdf", data="JVBER"),
        DocumentPart(media_type="text/plain", text="notes", title="n"),
        DocumentPart(media_type="text/csv", data="YSxi"),
    )
    body = _build(ChatRequest(model="claude", messages=(Message(role=Role.USER, parts=parts),)))
    sources = [b["source"] for b in body["messages"][0]["content"]]
    assert sources == [
        {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
        {"type": "url", "url": "https://x.test/a.jpg"},
        {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
        {"type": "text", "data": "notes", "media_type": "text/plain"},
        {"type": "text", "data": "a,b", "media_type": "text/plain"},
    ]


def test_reasoning_history_keeps_only_anthropic_signatures() -> None:
    ctx = RequestContext()
    parts = (
        ReasoningPart(text="a", signature="sigA", origin="anthropic"),
        ReasoningPart(signature="red", origin="anthropic", redacted=True),
        ReasoningPart(text="g", signature="gsig", origin="gemini"),
        TextPart(text="answer"),
    )
    body = _build(
        ChatRequest(
            model="claude", messages=(_user("q"), Message(role=Role.ASSISTANT, parts=parts))
        ),
        ctx,
    )
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "a", "signature": "sigA"},
        {"type": "redacted_thinking", "data": "red"},
        {"type": "text", "text": "answer"},
    ]
    assert any("reasoning" in w for w in ctx.warnings)


def test_sampling_params_and_dropped_ones_warn() -> None:
    ctx = RequestContext()
    body = _build(
        ChatRequest(
            model="claude",
            messages=(_user("q"),),
            temperature=1.7,
            top_p=0.9,
            top_k=5,
            stop=("END",),
            presence_penalty=0.5,
            seed=3,
            user="u-1",
        ),
        ctx,
    )
    assert body["temperature"] == 1.0
    assert "top_p" not in body  # claude-sonnet-4-5 refuses it beside temperature
    assert body["top_k"] == 5
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert "presence_penalty" not in body and "seed" not in body
    assert len(ctx.warnings) == 4


@pytest.mark.parametrize(
    ("model", "both"),
    [
        ("claude-sonnet-4-5", False),
        ("claude-opus-4-1-20250805", False),
        ("claude-haiku-4-5-20251001", False),
        ("claude-opus-4-20250514", True),
        ("claude-3-7-sonnet-latest", True),
    ],
)
def test_top_p_beside_temperature_goes_only_to_models_that_take_both(
    model: str, both: bool
) -> None:
    request = ChatRequest(model="claude", messages=(_user("q"),), temperature=0.5, top_p=0.9)
    upstream = PROVIDER.build_request(
        request, route("anthropic", provider="anthropic", upstream=model), RequestContext()
    )
    assert ("top_p" in json.loads(upstream.body)) is both


def test_tools_choice_and_parallel() -> None:
    tools = (
        FunctionTool(name="f", description="d"),
        FunctionTool(name="g", parameters={"type": "object"}),
    )
    body = _build(
        ChatRequest(
            model="claude",
            messages=(_user("q"),),
            tools=tools,
            tool_choice=ToolChoice(mode=ToolChoiceMode.NAMED, name="g"),
            parallel_tool_calls=False,
            web_search=WebSearchTool(max_uses=2, allowed_domains=("met.no",)),
        )
    )
    assert body["tools"] == [
        {"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}},
        {"name": "g", "input_schema": {"type": "object"}},
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "max_uses": 2,
            "allowed_domains": ["met.no"],
        },
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "g", "disable_parallel_tool_use": True}
    body = _build(
        ChatRequest(model="claude", messages=(_user("q"),), tools=tools, parallel_tool_calls=False)
    )
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 8192), ("high", 24576)]
)
def test_effort_becomes_budget_and_raises_max_tokens(effort: str, budget: int) -> None:
    body = _build(
        ChatRequest(
            model="claude",
            messages=(_user("q"),),
            max_tokens=1000,
            reasoning=ReasoningConfig(effort=effort),
        )
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == budget + 1000


def test_thinking_is_turned_off_when_a_tool_is_forced() -> None:
    ctx = RequestContext()
    body = _build(
        ChatRequest(
            model="claude",
            messages=(_user("q"),),
            tools=(FunctionTool(name="f"),),
            tool_choice=ToolChoice(mode=ToolChoiceMode.REQUIRED),
            reasoning=ReasoningConfig(budget_tokens=2000),
        ),
        ctx,
    )
    assert "thinking" not in body
    assert body["tool_choice"] == {"type": "any"}
    assert any("thinking" in w for w in ctx.warnings)


def test_adaptive_thinking_keeps_effort_and_output_format() -> None:
    ctx = RequestContext()
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
    }
    body = _build(
        ChatRequest(
            model="claude",
            messages=(_user("q"),),
            reasoning=ReasoningConfig(adaptive=True, effort="high"),
            output_format=OutputFormat(kind=OutputFormatKind.JSON_SCHEMA, schema=schema),
        ),
        ctx,
    )
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {
        "effort": "high",
        "format": {"type": "json_schema", "schema": schema},
    }


def test_json_object_becomes_a_system_instruction() -> None:
    ctx = RequestContext()
    body = _build(
        ChatRequest(
            model="claude",
            messages=(_user("q"),),
            output_format=OutputFormat(kind=OutputFormatKind.JSON_OBJECT),
        ),
        ctx,
    )
    assert "JSON object" in body["system"]
    assert ctx.warnings


def test_passthrough_patches_only_model_and_forwards_protocol_headers() -> None:
    body = {"model": "claude", "messages": [], "max_tokens": 5, "context_management": {"x": 1}}
    upstream = PROVIDER.passthrough_request(
        body,
        _route(),
        True,
        {"anthropic-beta": "a,b", "anthropic-version": "2026-10-21", "x-api-key": "client"},
    )
    assert upstream.url == "https://api.anthropic.test/v1/messages"
    assert json.loads(upstream.body) == {**body, "model": "claude-sonnet-4-5"}
    assert upstream.headers["anthropic-beta"] == "a,b"
    assert upstream.headers["anthropic-version"] == "2026-10-21"
    assert upstream.headers["x-api-key"] == "sk-upstream"


def test_count_tokens_request() -> None:
    upstream = PROVIDER.count_tokens_request({"model": "claude", "messages": []}, _route())
    assert upstream.url == "https://api.anthropic.test/v1/messages/count_tokens"
    assert json.loads(upstream.body)["model"] == "claude-sonnet-4-5"


def test_empty_text_is_never_sent() -> None:
    """Anthropic refuses an empty text block with a 400; another protocol's history holds
    them (a Chat stream's assistant turn starts as `content: ""`)."""
    call = ToolCallPart(id="toolu_1", name="get", arguments="{}")
    result = ToolResultPart(
        tool_call_id="toolu_1", content=(TextPart(text=""), ImagePart(url="https://x/i.png"))
    )
    messages = (
        _user("hi"),
        Message(role=Role.ASSISTANT, parts=(TextPart(text=""), call)),
        Message(role=Role.TOOL, parts=(result,)),
    )
    system = (TextPart(text=""), TextPart(text="sys", cache_control="5m"))
    body = _build(ChatRequest(model="claude", messages=messages, system=system))
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}}
    ]
    assert body["messages"][2]["content"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}}
    ]
    assert body["system"] == [
        {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}
    ]


@pytest.mark.parametrize(
    ("limit", "asked", "budget", "max_tokens"),
    [
        (None, 1000, 32000, 33000),  # no configured limit: 32000 of thinking
        (64000, 1000, 63000, 64000),  # the model's limit, the answer's room kept
        (64000, None, 59904, 64000),  # no asked length: the default 4096 of room
    ],
)
@pytest.mark.parametrize("effort", ["xhigh", "max"])
def test_top_efforts_think_the_most_and_keep_the_answer_room(
    effort: str, limit: int | None, asked: int | None, budget: int, max_tokens: int
) -> None:
    request = ChatRequest(
        model="claude",
        messages=(_user("q"),),
        max_tokens=asked,
        reasoning=ReasoningConfig(effort=effort),
    )
    body = json.loads(PROVIDER.build_request(request, _route(limit), RequestContext()).body)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == max_tokens
    assert budget >= 24576 and max_tokens - budget >= min(asked or 4096, limit or 4096)


@pytest.mark.parametrize(
    ("limit", "asked", "thinking", "max_tokens"),
    [
        # high's 24576 and 1000 to answer in do not fit: the configured limit caps them.
        (8192, 1000, {"type": "enabled", "budget_tokens": 7192}, 8192),
        # nor does Anthropic's least budget beside 1024 to answer in: no thinking.
        (1024, None, None, 1024),
    ],
)
def test_a_small_configured_limit_caps_the_top_efforts(
    limit: int, asked: int | None, thinking: dict[str, object] | None, max_tokens: int
) -> None:
    request = ChatRequest(
        model="claude",
        messages=(_user("q"),),
        max_tokens=asked,
        reasoning=ReasoningConfig(effort="xhigh"),
    )
    ctx = RequestContext()
    body = json.loads(PROVIDER.build_request(request, _route(limit), ctx).body)
    assert body.get("thinking") == thinking
    assert body["max_tokens"] == max_tokens
    assert any(f"{limit} output tokens 'claude-sonnet-4-5' takes" in w for w in ctx.warnings)


def _loop(*assistant_parts: ReasoningPart, results: Role = Role.TOOL) -> tuple[Message, ...]:
    """A user question, an assistant turn of `assistant_parts` calling tool c1, its result
    (in a TOOL message, or a USER message of tool results as a Messages client sends)."""
    call = ToolCallPart(id="c1", name="f", arguments="{}")
    result = ToolResultPart(tool_call_id="c1", content=(TextPart(text="ok"),))
    return (
        _user("q"),
        Message(role=Role.ASSISTANT, parts=(*assistant_parts, call)),
        Message(role=results, parts=(result,)),
    )


THOUGHT = ReasoningPart(text="t", signature="sig", origin="anthropic")
FOREIGN = ReasoningPart(text="t", signature="sig", origin="gemini")


@pytest.mark.parametrize(
    ("messages", "thinks"),
    [
        (_loop(), False),  # a Chat client's loop: no thinking to send back
        (_loop(results=Role.USER), False),
        (_loop(FOREIGN), False),  # another provider's reasoning is dropped on the way
        (_loop(THOUGHT), True),
        (_loop(THOUGHT, results=Role.USER), True),
        ((*_loop(), _user("next")), True),  # a new question ends the loop
        ((_user("q"),), True),
    ],
)
def test_thinking_goes_off_for_a_tool_loop_that_lost_its_thinking(
    messages: tuple[Message, ...], thinks: bool
) -> None:
    ctx = RequestContext()
    request = ChatRequest(
        model="claude",
        messages=messages,
        tools=(FunctionTool(name="f"),),
        reasoning=ReasoningConfig(effort="low"),
    )
    body = _build(request, ctx)
    assert ("thinking" in body) is thinks
    assert any("thinking was turned off for this turn" in w for w in ctx.warnings) is not thinks
