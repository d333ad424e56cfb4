"""OpenAI Responses provider: IR ChatRequest → upstream request."""

from __future__ import annotations

import json
from typing import Any

import pytest

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
from polyrelay.providers import SupportsPassthrough
from polyrelay.providers.openai_responses import OpenAIResponsesProvider
from polyrelay.providers.openai_responses.request import effort_from_budget

from .conftest import make_route

PROVIDER = OpenAIResponsesProvider()


def build(request: ChatRequest, ctx: RequestContext | None = None) -> dict[str, Any]:
    up = PROVIDER.build_request(request, make_route(), ctx or RequestContext())
    body: dict[str, Any] = json.loads(up.body)
    return body


def user(text: str) -> Message:
    return Message(role=Role.USER, parts=(TextPart(text=text),))


def test_url_headers_and_model() -> None:
    up = PROVIDER.build_request(
        ChatRequest(model="smart", messages=(user("hi"),)), make_route(), RequestContext()
    )
    assert up.method == "POST"
    assert up.url == "https://api.example/v1/responses"
    assert up.headers["authorization"] == "Bearer sk-test"
    assert up.headers["x-extra"] == "1"
    body = json.loads(up.body)
    assert body == {
        "model": "gpt-5",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        "store": False,
        "include": ["reasoning.encrypted_content"],  # gpt-5 reasons unasked
    }


def test_no_auth_header_without_key() -> None:
    route = make_route(api_key=None)
    up = PROVIDER.build_request(
        ChatRequest(model="m", messages=(user("x"),)), route, RequestContext()
    )
    assert "authorization" not in up.headers


def test_system_becomes_instructions_and_mid_system_stays_in_place() -> None:
    request = ChatRequest(
        model="m",
        system=(TextPart(text="Be brief."), TextPart(text="Be kind.")),
        messages=(
            user("a"),
            Message(role=Role.SYSTEM, parts=(TextPart(text="now French"),)),
            user("b"),
        ),
    )
    body = build(request)
    assert body["instructions"] == "Be brief.\n\nBe kind."
    assert [i["role"] for i in body["input"]] == ["user", "system", "user"]


def test_history_items() -> None:
    call = ToolCallPart(
        id="call_1",
        name="get",
        arguments='{"a":1}',
        extensions={"openai-responses.item_id": "fc_9"},
    )
    request = ChatRequest(
        model="m",
        messages=(
            user("q"),
            Message(
                role=Role.ASSISTANT,
                parts=(
                    ReasoningPart(text="think", signature="enc", origin="openai-responses"),
                    ReasoningPart(text="alien", signature="sig", origin="anthropic"),
                    TextPart(text="Let me check."),
                    call,
                ),
            ),
            Message(
                role=Role.TOOL,
                parts=(
                    ToolResultPart(
                        tool_call_id="call_1", content=(TextPart(text="boom"),), is_error=True
                    ),
                ),
            ),
        ),
    )
    ctx = RequestContext()
    items = build(request, ctx)["input"]
    assert items[1] == {
        "type": "reasoning",
        "summary": [{"text": "think", "type": "summary_text"}],
        "encrypted_content": "enc",
    }
    assert items[2] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}],
    }
    assert items[3] == {
        "type": "function_call",
        "id": "fc_9",
        "call_id": "call_1",
        "name": "get",
        "arguments": '{"a":1}',
    }
    assert items[4] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "Error: boom",
    }
    assert len(items) == 5
    assert any("reasoning from another provider" in w for w in ctx.warnings)


def test_media_parts() -> None:
    parts = (
        ImagePart(media_type="image/png", data="AAAA", detail="low"),
        ImagePart(url="https://x/img.jpg"),
        DocumentPart(media_type="application/pdf", data="JVBE", filename="a.pdf"),
        DocumentPart(url="https://x/doc.pdf"),
    )
    content = build(ChatRequest(model="m", messages=(Message(role=Role.USER, parts=parts),)))[
        "input"
    ][0]["content"]
    assert content == [
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
        {"type": "input_image", "image_url": "https://x/img.jpg", "detail": "auto"},
        {
            "type": "input_file",
            "file_data": "data:application/pdf;base64,JVBE",
            "filename": "a.pdf",
        },
        {"type": "input_file", "file_url": "https://x/doc.pdf"},
    ]


CLOSED = {"type": "object", "additionalProperties": False}
"""A schema OpenAI's strict mode takes."""


def test_parameters_tools_and_formats() -> None:
    request = ChatRequest(
        model="m",
        messages=(user("x"),),
        tools=(
            FunctionTool(name="f", description="d", parameters=CLOSED, strict=True),
            FunctionTool(name="g"),
        ),
        web_search=WebSearchTool(
            allowed_domains=("a.com",), user_location=UserLocation(city="Oslo"), max_uses=3
        ),
        tool_choice=ToolChoice(mode=ToolChoiceMode.NAMED, name="f"),
        parallel_tool_calls=False,
        max_tokens=500,
        temperature=0.5,
        top_p=0.9,
        output_format=OutputFormat(
            kind=OutputFormatKind.JSON_SCHEMA, name="out", schema={"type": "object"}, strict=True
        ),
        reasoning=ReasoningConfig(budget_tokens=8000),
        user="u1",
        metadata={"k": "v"},
        stream=True,
    )
    body = build(request)
    assert body["tools"] == [
        {
            "type": "function",
            "name": "f",
            "description": "d",
            "parameters": CLOSED,
            "strict": True,
        },
        {
            "type": "function",
            "name": "g",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["a.com"]},
            "user_location": {"type": "approximate", "city": "Oslo"},
        },
    ]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["parallel_tool_calls"] is False
    assert body["max_tool_calls"] == 3
    assert body["max_output_tokens"] == 500
    # gpt-5 reasons, and OpenAI refuses temperature and top_p to it
    assert "temperature" not in body and "top_p" not in body
    assert body["text"] == {
        "format": {
            "type": "json_schema",
            "name": "out",
            "schema": {"type": "object"},
            "strict": True,
        }
    }
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["store"] is False
    assert body["stream"] is True
    assert (body["user"], body["metadata"]) == ("u1", {"k": "v"})


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "minimal"), (2048, "low"), (8192, "medium"), (24576, "high")]
)
def test_effort_from_budget(budget: int, effort: str) -> None:
    assert effort_from_budget(budget, "gpt-5-mini") == effort


@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5.1", "gpt-5.1-codex", "gpt-oss-120b"])
def test_the_least_budget_is_low_for_a_model_without_minimal(model: str) -> None:
    assert effort_from_budget(1024, model) == "low"


def test_unsupported_parameters_warn() -> None:
    ctx = RequestContext()
    body = build(
        ChatRequest(
            model="m",
            messages=(user("x"),),
            top_k=5,
            stop=("END",),
            seed=1,
            presence_penalty=0.1,
            frequency_penalty=0.2,
            max_tokens=4,
        ),
        ctx,
    )
    for name in ("top_k", "stop", "seed", "presence_penalty", "frequency_penalty"):
        assert name not in body
        assert any(w.startswith(name) for w in ctx.warnings)
    assert body["max_output_tokens"] == 16


def test_n_greater_than_one_is_rejected() -> None:
    with pytest.raises(UnsupportedError):
        build(ChatRequest(model="m", messages=(user("x"),), n=2))


def test_passthrough_patches_model_only() -> None:
    assert isinstance(PROVIDER, SupportsPassthrough)
    body = {"model": "smart", "input": "hi", "store": False, "future_field": 1}
    up = PROVIDER.passthrough_request(body, make_route(), True, {})
    assert json.loads(up.body) == {
        "model": "gpt-5",
        "input": "hi",
        "store": False,
        "future_field": 1,
    }
    assert up.url.endswith("/responses")
