"""ir.ChatRequest → Gemini generateContent request bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types as gtypes

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
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
    ServerToolCallPart,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    WebSearchTool,
)
from polyrelay.providers import Route
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.providers.gemini.content import SIGNATURE_KEY

PROVIDER = GeminiProvider()


def user(text: str) -> Message:
    return Message(role=Role.USER, parts=(TextPart(text=text),))


def build(request: ChatRequest, route: Route, ctx: RequestContext) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(PROVIDER.build_request(request, route, ctx).body)
    # The SDK's own request types accept what we send (camelCase aliases).
    gtypes.GenerateContentConfig.model_validate(body.get("generationConfig") or {})
    for content in body["contents"]:
        gtypes.Content.model_validate(content)
    return body


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="flash", messages=messages, **kw)


def test_url_headers_and_basic_body(route: Route, ctx: RequestContext) -> None:
    up = PROVIDER.build_request(req(user("Hi")), route, ctx)
    assert up.method == "POST"
    assert up.url == "https://gemini.example/v1beta/models/gemini-2.5-flash:generateContent"
    assert up.headers["x-goog-api-key"] == "gk-test"
    assert up.headers["x-extra"] == "1"
    assert json.loads(up.body) == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    assert ctx.warnings == []


def test_stream_url_and_no_key(route_for: Callable[..., Route], ctx: RequestContext) -> None:
    route = route_for(api_key=None)
    up = PROVIDER.build_request(req(user("Hi"), stream=True), route, ctx)
    assert up.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert "x-goog-api-key" not in up.headers


def test_system_goes_to_system_instruction(route: Route, ctx: RequestContext) -> None:
    system = (TextPart(text="Be brief."), TextPart(text="Be kind."))
    body = build(req(user("Hi"), system=system), route, ctx)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]}


def test_mid_conversation_system_becomes_marked_user_text(
    route: Route, ctx: RequestContext
) -> None:
    mid = Message(role=Role.SYSTEM, parts=(TextPart(text="Now answer in French."),))
    assistant = Message(role=Role.ASSISTANT, parts=(TextPart(text="Hello"),))
    body = build(req(user("Hi"), assistant, mid, user("Again")), route, ctx)
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"text": "<system-reminder>Now answer in French.</system-reminder>"},
            {"text": "Again"},
        ],
    }
    assert any("system message" in w for w in ctx.warnings)


def test_consecutive_same_role_messages_merge(route: Route, ctx: RequestContext) -> None:
    a1 = Message(role=Role.ASSISTANT, parts=(TextPart(text="One"),))
    a2 = Message(role=Role.ASSISTANT, parts=(TextPart(text="Two"),))
    body = build(req(user("a"), user("b"), a1, a2, user("c")), route, ctx)
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"] == [{"text": "a"}, {"text": "b"}]
    assert body["contents"][1]["parts"] == [{"text": "One"}, {"text": "Two"}]


def _tool_history(result: ToolResultPart, *extra: ToolCallPart) -> tuple[Message, ...]:
    call = ToolCallPart(
        id="call_1",
        name="get_weather",
        arguments='{ "city" : "Paris" }',
        extensions={"gemini.thought_signature": "c2ln"},
    )
    return (
        user("Weather?"),
        Message(role=Role.ASSISTANT, parts=(TextPart(text="Checking."), call, *extra)),
        Message(role=Role.TOOL, parts=(result,)),
    )


def test_tool_call_and_result_found_by_id(route: Route, ctx: RequestContext) -> None:
    result = ToolResultPart(tool_call_id="call_1", content=(TextPart(text="22C sunny"),))
    body = build(req(*_tool_history(result)), route, ctx)
    model, tool = body["contents"][1], body["contents"][2]
    assert model["parts"][1] == {
        "thoughtSignature": "c2ln",
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
    }
    # Arguments are compacted, not re-serialised through Python objects.
    assert (
        b'"args":{"city":"Paris"}'
        in PROVIDER.build_request(req(*_tool_history(result)), route, ctx).body
    )
    assert tool == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "get_weather",
                    "response": {"output": "22C sunny"},
                    "id": "call_1",
                }
            }
        ],
    }


def test_tool_error_result_and_explicit_name(route: Route, ctx: RequestContext) -> None:
    result = ToolResultPart(
        tool_call_id="call_1", name="get_weather", content=(TextPart(text="boom"),), is_error=True
    )
    body = build(req(*_tool_history(result)), route, ctx)
    response = body["contents"][2]["parts"][0]["functionResponse"]
    assert response["response"] == {"error": "boom"}


def test_tool_result_with_unknown_id_is_rejected(route: Route, ctx: RequestContext) -> None:
    result = ToolResultPart(tool_call_id="call_unknown", content=(TextPart(text="x"),))
    with pytest.raises(InvalidRequestError, match="call_unknown"):
        PROVIDER.build_request(req(*_tool_history(result)), route, ctx)


def test_parallel_calls_and_results_pair_up(route: Route, ctx: RequestContext) -> None:
    second = ToolCallPart(id="call_2", name="get_time", arguments="")
    results = (
        ToolResultPart(tool_call_id="call_1", content=(TextPart(text="sunny"),)),
        ToolResultPart(tool_call_id="call_2", content=(TextPart(text="noon"),)),
    )
    messages = (*_tool_history(results[0], second)[:2], Message(role=Role.TOOL, parts=results))
    body = build(req(*messages, user("thanks")), route, ctx)
    calls = [p["functionCall"] for p in body["contents"][1]["parts"] if "functionCall" in p]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert calls[1]["args"] == {}
    last = body["contents"][2]["parts"]
    assert [p["functionResponse"]["name"] for p in last[:2]] == ["get_weather", "get_time"]
    assert last[2] == {"text": "thanks"}


def test_tool_call_arguments_must_be_an_object(route: Route, ctx: RequestContext) -> None:
    bad = ToolCallPart(id="call_9", name="f", arguments="[1, 2]")
    messages = (user("x"), Message(role=Role.ASSISTANT, parts=(bad,)))
    with pytest.raises(InvalidRequestError, match="call_9"):
        PROVIDER.build_request(req(*messages), route, ctx)
    broken = ToolCallPart(id="call_8", name="f", arguments='{"a": ')
    with pytest.raises(InvalidRequestError):
        PROVIDER.build_request(
            req(user("x"), Message(role=Role.ASSISTANT, parts=(broken,))), route, ctx
        )


def test_images_and_documents(route: Route, ctx: RequestContext) -> None:
    parts = (
        TextPart(text="Describe"),
        ImagePart(media_type="image/jpeg", data="aGVsbG8="),
        DocumentPart(media_type="application/pdf", data="JVBERi0="),
        DocumentPart(text="plain notes", title="notes.txt"),
    )
    body = build(req(Message(role=Role.USER, parts=parts)), route, ctx)
    assert body["contents"][0]["parts"] == [
        {"text": "Describe"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "aGVsbG8="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"text": "plain notes"},
    ]


def test_image_url_is_unsupported_until_the_fetcher_lands(
    route: Route, ctx: RequestContext
) -> None:
    image = ImagePart(url="https://example.com/cat.png")
    with pytest.raises(UnsupportedError, match="fetched by the gateway"):
        PROVIDER.build_request(req(Message(role=Role.USER, parts=(image,))), route, ctx)


def test_tool_result_images_follow_the_results(route: Route, ctx: RequestContext) -> None:
    result = ToolResultPart(
        tool_call_id="call_1",
        content=(TextPart(text="see image"), ImagePart(media_type="image/png", data="iVBO")),
    )
    body = build(req(*_tool_history(result)), route, ctx)
    parts = body["contents"][2]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"output": "see image"}
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
    assert any("images in tool results" in w for w in ctx.warnings)


def test_gemini_reasoning_is_replayed_and_foreign_dropped(
    route: Route, ctx: RequestContext
) -> None:
    parts = (
        ReasoningPart(text="thinking...", signature="Z3Np", origin="gemini"),
        ReasoningPart(text="claude thoughts", signature="sig", origin="anthropic"),
        TextPart(text="Answer"),
        ReasoningPart(signature="dGV4dA==", origin="gemini"),
    )
    body = build(req(user("q"), Message(role=Role.ASSISTANT, parts=parts)), route, ctx)
    assert body["contents"][1]["parts"] == [
        {"text": "thinking...", "thought": True, "thoughtSignature": "Z3Np"},
        {"text": "Answer", "thoughtSignature": "dGV4dA=="},
    ]
    assert any("another provider" in w for w in ctx.warnings)


def test_a_signature_with_no_part_before_it_rides_on_the_next(
    route: Route, ctx: RequestContext
) -> None:
    """Gemini streamed it on an empty text part before the call; sending back an empty
    text part is a 400, so it goes on the next part that has none."""
    call = ToolCallPart(id="c1", name="get_weather", arguments="{}")
    parts = (ReasoningPart(signature="c2ln", origin="gemini"), call)
    body = build(req(user("q"), Message(role=Role.ASSISTANT, parts=parts)), route, ctx)
    (sent,) = body["contents"][1]["parts"]
    assert sent["thoughtSignature"] == "c2ln"
    assert sent["functionCall"]["name"] == "get_weather"


def test_a_signature_no_part_can_carry_is_dropped(route: Route, ctx: RequestContext) -> None:
    call = ToolCallPart(id="c1", name="f", arguments="{}", extensions={SIGNATURE_KEY: "b3du"})
    parts = (call, ReasoningPart(signature="c2ln", origin="gemini"))
    body = build(req(user("q"), Message(role=Role.ASSISTANT, parts=parts)), route, ctx)
    (sent,) = body["contents"][1]["parts"]
    assert sent["thoughtSignature"] == "b3du"
    assert any("no part to carry it" in w for w in ctx.warnings)


def test_gemini_3_gets_a_stand_in_for_an_unsigned_call(
    route_for: Callable[..., Route], ctx: RequestContext
) -> None:
    """Gemini 3 refuses a model turn whose first call has no thoughtSignature; only the
    first of parallel calls carries one, and 2.5 needs none."""
    calls = tuple(ToolCallPart(id=f"c{i}", name="f", arguments="{}") for i in range(2))
    request = req(user("q"), Message(role=Role.ASSISTANT, parts=calls))
    first, second = build(request, route_for("gemini-3-flash"), ctx)["contents"][1]["parts"]
    assert first["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in second
    parts = build(request, route_for("gemini-2.5-flash"), ctx)["contents"][1]["parts"]
    assert all("thoughtSignature" not in p for p in parts)


def test_empty_texts_are_left_out(route: Route, ctx: RequestContext) -> None:
    """Gemini refuses `{"text": ""}`: 'required oneof field 'data' must have one
    initialized field'."""
    model = Message(role=Role.ASSISTANT, parts=(TextPart(text=""), TextPart(text="yes")))
    request = req(user(""), user("q"), model, system=(TextPart(text=""),))
    body = build(request, route, ctx)
    assert "systemInstruction" not in body
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [{"text": "yes"}]},
    ]


def test_server_tool_history_is_dropped_with_warning(route: Route, ctx: RequestContext) -> None:
    parts = (ServerToolCallPart(id="s1", name="web_search", arguments="{}"), TextPart(text="ok"))
    body = build(req(user("q"), Message(role=Role.ASSISTANT, parts=parts)), route, ctx)
    assert body["contents"][1]["parts"] == [{"text": "ok"}]
    assert any("server tool" in w for w in ctx.warnings)


def test_generation_config(route_for: Callable[..., Route], ctx: RequestContext) -> None:
    request = req(
        user("Hi"),
        max_tokens=100,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop=("END",),
        presence_penalty=0.1,
        frequency_penalty=0.2,
        seed=7,
        n=2,
    )
    body = build(request, route_for("gemini-2.0-flash"), ctx)
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["END"],
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "seed": 7,
    }


def test_penalties_past_gemini_2_0_are_dropped(route: Route, ctx: RequestContext) -> None:
    """Gemini 2.5 answers 400 "Penalty is not enabled for models/gemini-2.5-flash"."""
    request = req(user("Hi"), presence_penalty=0.5, frequency_penalty=0.0, seed=7)
    assert build(request, route, ctx)["generationConfig"] == {"seed": 7}
    assert list(ctx.warnings) == ["gemini-2.5-flash does not support presence_penalty; dropped"]


def test_more_than_five_stop_sequences_is_unsupported(route: Route, ctx: RequestContext) -> None:
    with pytest.raises(UnsupportedError) as info:
        PROVIDER.build_request(req(user("Hi"), stop=tuple("abcdef")), route, ctx)
    assert info.value.param == "stop"
    assert PROVIDER.capabilities.max_stop_sequences == 5


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (OutputFormatKind.JSON_OBJECT, {"responseMimeType": "application/json"}),
        (
            OutputFormatKind.JSON_SCHEMA,
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
    ],
)
def test_output_format(
    route: Route, ctx: RequestContext, kind: OutputFormatKind, expected: dict[str, Any]
) -> None:
    schema = {"type": "object"} if kind is OutputFormatKind.JSON_SCHEMA else None
    fmt = OutputFormat(kind=kind, name="answer", schema=schema)
    body = build(req(user("Hi"), output_format=fmt), route, ctx)
    assert body["generationConfig"] == expected


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        ("gemini-2.5-flash", ReasoningConfig(budget_tokens=3000), {"thinkingBudget": 3000}),
        ("gemini-2.5-flash", ReasoningConfig(effort="medium"), {"thinkingBudget": 8192}),
        ("gemini-2.5-pro", ReasoningConfig(effort="xhigh"), {"thinkingBudget": 32768}),
        ("gemini-2.5-flash", ReasoningConfig(effort="max"), {"thinkingBudget": 24576}),
        ("gemini-2.5-flash", ReasoningConfig(adaptive=True), {"thinkingBudget": -1}),
        ("gemini-3-pro-preview", ReasoningConfig(effort="low"), {"thinkingLevel": "LOW"}),
        ("gemini-3-pro-preview", ReasoningConfig(budget_tokens=20000), {"thinkingLevel": "HIGH"}),
        ("gemini-3-flash", ReasoningConfig(budget_tokens=5000), {"thinkingLevel": "MEDIUM"}),
        ("gemini-3-flash", ReasoningConfig(), {}),
        ("gemini-3-flash", ReasoningConfig(effort="minimal"), {"thinkingLevel": "MINIMAL"}),
        # Gemini 3 Pro models have no MINIMAL, 3.0 Pro no MEDIUM: the next level up.
        ("gemini-3.1-pro-preview", ReasoningConfig(effort="minimal"), {"thinkingLevel": "LOW"}),
        ("gemini-3.1-pro-preview", ReasoningConfig(effort="medium"), {"thinkingLevel": "MEDIUM"}),
        ("gemini-3-pro-preview", ReasoningConfig(effort="medium"), {"thinkingLevel": "HIGH"}),
        ("gemini-3-pro-preview", ReasoningConfig(budget_tokens=5000), {"thinkingLevel": "HIGH"}),
        # Outside the family's range: Gemini answers 400, so the nearest end is sent.
        ("gemini-2.5-flash", ReasoningConfig(budget_tokens=31999), {"thinkingBudget": 24576}),
        ("gemini-2.5-pro", ReasoningConfig(budget_tokens=60000), {"thinkingBudget": 32768}),
        ("gemini-2.5-flash-lite", ReasoningConfig(budget_tokens=100), {"thinkingBudget": 512}),
    ],
)
def test_thinking_config(
    route_for: Callable[..., Route],
    ctx: RequestContext,
    model: str,
    reasoning: ReasoningConfig,
    expected: dict[str, Any],
) -> None:
    body = build(req(user("Hi"), reasoning=reasoning), route_for(model), ctx)
    assert body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, **expected}


def test_thinking_off(route_for: Callable[..., Route], ctx: RequestContext) -> None:
    off = ReasoningConfig(enabled=False)
    body = build(req(user("Hi"), reasoning=off), route_for("gemini-2.5-flash"), ctx)
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    body = build(req(user("Hi"), reasoning=off), route_for("gemini-3-flash"), ctx)
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "MINIMAL"}
    assert any("cannot turn thinking off" in w for w in ctx.warnings)
    body = build(req(user("Hi"), reasoning=off), route_for("gemini-3-pro-preview"), ctx)
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW"}
    # 2.5 Pro refuses budget 0 ("This model only works in thinking mode").
    body = build(req(user("Hi"), reasoning=off), route_for("gemini-2.5-pro"), ctx)
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128}


WEATHER = FunctionTool(
    name="get_weather",
    description="Weather by city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        (ToolChoice(mode=ToolChoiceMode.AUTO), {"mode": "AUTO"}),
        (ToolChoice(mode=ToolChoiceMode.NONE), {"mode": "NONE"}),
        (ToolChoice(mode=ToolChoiceMode.REQUIRED), {"mode": "ANY"}),
        (
            ToolChoice(mode=ToolChoiceMode.NAMED, name="get_weather"),
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tools_and_tool_choice(
    route: Route, ctx: RequestContext, choice: ToolChoice | None, expected: dict[str, Any] | None
) -> None:
    body = build(req(user("Hi"), tools=(WEATHER,), tool_choice=choice), route, ctx)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather by city",
                    "parametersJsonSchema": WEATHER.parameters,
                }
            ]
        }
    ]
    gtypes.Tool.model_validate(body["tools"][0])
    config = body.get("toolConfig", {}).get("functionCallingConfig")
    assert config == expected


def test_lossy_parameters_warn(route: Route, ctx: RequestContext) -> None:
    strict_tool = FunctionTool(name="f", parameters={"type": "object"}, strict=True)
    request = req(
        user("Hi"),
        tools=(strict_tool,),
        parallel_tool_calls=False,
        user="u-1",
        metadata={"k": "v"},
    )
    body = build(request, route, ctx)
    assert "user" not in body and "metadata" not in body
    assert len(ctx.warnings) == 4


def test_web_search_is_unsupported(route: Route, ctx: RequestContext) -> None:
    with pytest.raises(UnsupportedError, match="web search"):
        PROVIDER.build_request(req(user("Hi"), web_search=WebSearchTool()), route, ctx)


def test_count_tokens_request(route: Route) -> None:
    request = req(user("Hi"), system=(TextPart(text="Be brief."),), tools=(WEATHER,))
    up = PROVIDER.count_tokens_request(request, route)
    assert up.url == "https://gemini.example/v1beta/models/gemini-2.5-flash:countTokens"
    inner = json.loads(up.body)["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert inner["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert inner["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert inner["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
