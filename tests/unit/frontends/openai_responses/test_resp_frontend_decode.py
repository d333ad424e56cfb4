"""OpenAI Responses frontend: request bodies → IR ChatRequest + ResponsesOptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend, ResponsesOptions
from polyrelay.frontends.openai_responses.blob import reasoning_state_from_ir
from polyrelay.ir import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    OutputFormatKind,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoiceMode,
    ToolResultPart,
)
from polyrelay.storage import StoredResponse, open_database

from .conftest import CLIENTS, SAMPLES

FRONTEND = OpenAIResponsesFrontend()
_TEXT = {"type": "input_text", "text": "a"}
_CALL_WITHOUT_NAME = {"type": "function_call", "call_id": "c", "arguments": "{}"}
_OUTPUT = "input[0].output"
_AUDIO = {"type": "input_audio"}


def decode(
    body: dict[str, Any], ctx: RequestContext | None = None
) -> tuple[ChatRequest, ResponsesOptions]:
    return FRONTEND.decode_with_options(json.dumps(body).encode(), ctx or RequestContext())


def test_string_input_is_one_user_message() -> None:
    request, options = decode({"model": "m", "input": "say hi"})
    assert request.messages[0].role is Role.USER
    assert request.messages[0].parts == (TextPart(text="say hi"),)
    assert options.store is True and options.truncation == "disabled"


def test_multiturn_fixture() -> None:
    # The fixture continues "resp_prev", stored (with no items) for this key.
    database = open_database("sqlite:///:memory:")
    previous = StoredResponse(
        id="resp_prev", key_id="k", created_at=1, status="completed", response={}
    )
    database.responses.put(previous)
    frontend = OpenAIResponsesFrontend(store=database.responses)
    ctx = RequestContext(key_id="k")
    request, options = frontend.decode_with_options((CLIENTS / "multiturn.json").read_bytes(), ctx)
    assert request.system == (TextPart(text="Be brief."), TextPart(text="Use metric units."))
    roles = [m.role for m in request.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.SYSTEM, Role.USER]
    media = request.messages[0].parts
    assert media[1] == ImagePart(media_type="image/png", data="iVBORw0KGgo=", detail="low")
    assert media[2] == ImagePart(url="https://img.example/cat.jpg")
    assert media[3] == DocumentPart(media_type="application/pdf", data="JVBERi0=", filename="a.pdf")
    assert media[4] == DocumentPart(url="https://docs.example/b.pdf")
    assistant = request.messages[1].parts
    assert assistant[0] == ReasoningPart(
        text="Look closely.", signature="gAAAAreal", origin="openai-responses"
    )
    assert assistant[1] == TextPart(text="A cat.")
    assert assistant[2] == ToolCallPart(
        id="call_1",
        name="multi_agent_v1__spawn_agent",
        arguments='{"task":"x"}',
        extensions={"openai-responses.item_id": "fc_1"},
    )
    assert isinstance(assistant[3], ToolCallPart)
    assert json.loads(assistant[3].arguments) == {"input": "*** Begin Patch\n*** End Patch\n"}
    results = request.messages[2].parts
    assert results == (
        ToolResultPart(tool_call_id="call_1", content=(TextPart(text="agent-7"),)),
        ToolResultPart(tool_call_id="call_2", content=(TextPart(text="Done"),)),
    )
    assert [t.name for t in request.tools] == [
        "get_weather",
        "multi_agent_v1__spawn_agent",
        "apply_patch",
    ]
    assert request.tools[2].parameters is not None and "lark" in (
        request.tools[2].description or ""
    )
    assert request.web_search is not None and request.web_search.allowed_domains == ("example.com",)
    assert request.tool_choice is not None and request.tool_choice.mode is ToolChoiceMode.REQUIRED
    assert request.parallel_tool_calls is False
    assert (request.max_tokens, request.temperature, request.top_p) == (1000, 0.3, 0.8)
    assert request.reasoning is not None and request.reasoning.effort == "high"
    assert (
        request.output_format is not None
        and request.output_format.kind is OutputFormatKind.JSON_SCHEMA
    )
    assert request.user == "user-1" and request.stream is True and request.metadata == {"k": "v"}
    assert options.store is False and options.truncation == "auto"
    assert options.previous_response_id == "resp_prev"
    assert options.include == ("reasoning.encrypted_content",)
    assert options.tool_names.namespaced == {
        "multi_agent_v1__spawn_agent": ("multi_agent_v1", "spawn_agent")
    }
    assert options.tool_names.custom == {"apply_patch"}
    # Losses of the translation: they reach the client only if the request is translated.
    assert ctx.warnings == []
    assert any("tool_search" in w for w in ctx.translation_warnings)
    assert any("apply_patch" in w for w in ctx.translation_warnings)


def test_gateway_blob_round_trips_foreign_reasoning() -> None:
    part = ReasoningPart(text="hmm", signature="anthropic-sig", origin="anthropic")
    blob = reasoning_state_from_ir(part)
    assert blob is not None and blob.startswith("gw1.")
    body = {
        "model": "m",
        "input": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "hmm"}],
                "encrypted_content": blob,
            },
            {"role": "user", "content": "go"},
        ],
    }
    request, _ = decode(body)
    assert request.messages[0].parts == (part,)


def test_damaged_blob_keeps_only_the_summary() -> None:
    body = {
        "model": "m",
        "input": [{"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "gw1.!!"}],
    }
    request, _ = decode(body)
    assert request.messages[0].parts == (ReasoningPart(text=""),)


@pytest.mark.parametrize(
    "name",
    [
        "codex_responses_first_turn",
        "codex_responses_function_call_output_turn",
        "codex_responses_gpt55",
    ],
)
def test_codex_captures_decode(name: str) -> None:
    path = SAMPLES / f"{name}.json"
    if not path.exists():
        pytest.skip("Codex captures not available")
    body = json.loads(path.read_text())["body"]
    ctx = RequestContext()
    request, options = decode(body, ctx)
    assert request.system and request.messages[0].role is Role.USER
    assert options.store is False
    assert request.web_search is not None
    assert request.reasoning is not None
    names = {t.name for t in request.tools}
    assert "exec_command" in names
    if name == "codex_responses_gpt55":
        assert "apply_patch" in options.tool_names.custom
    else:
        assert "multi_agent_v1__close_agent" in names
    if name == "codex_responses_function_call_output_turn":
        assert [m.role for m in request.messages][-2:] == [Role.ASSISTANT, Role.TOOL]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "m", "input": "x", "top_p": 1.5}, "top_p"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x"}, None),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0].content[0]",
        ),
        ({"model": "m", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "m", "input": "x", "truncation": "middle"}, "truncation"),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema"}}},
            "text.format.schema",
        ),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        # Paths the decoder writes out only for the error
        (
            {"model": "m", "input": [{"role": "user", "content": "a"}, _CALL_WITHOUT_NAME]},
            "input[1].name",
        ),
        ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}, _OUTPUT),
        ({"model": "m", "input": [{"role": "user"}]}, "input[0].content"),
        (
            {"model": "m", "input": [{"role": "user", "content": [_TEXT, {"type": "input_text"}]}]},
            "input[0].content[1].text",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].image_url",
        ),
        (
            {
                "model": "m",
                "input": [
                    {"type": "function_call_output", "call_id": "c", "output": [_TEXT, _AUDIO]}
                ],
            },
            "input[0].output[1]",
        ),
    ],
)
def test_invalid_fields_are_named(body: dict[str, Any], param: str | None) -> None:
    with pytest.raises(InvalidRequestError) as info:
        decode(body)
    if param is not None:
        assert info.value.param == param


def test_not_json() -> None:
    with pytest.raises(InvalidRequestError):
        FRONTEND.decode(b"{nope", RequestContext())


@pytest.mark.parametrize(
    "body",
    [
        {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}],
        },
        {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}],
        },
        {"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]},
        {"model": "m", "input": "x", "conversation": "conv_1"},
    ],
)
def test_unsupported_inputs(body: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedError):
        decode(body)


def test_tool_choice_shapes() -> None:
    tools = [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}]
    request, _ = decode(
        {
            "model": "m",
            "input": "x",
            "tools": tools,
            "tool_choice": {"type": "function", "name": "a"},
        }
    )
    assert request.tool_choice is not None and request.tool_choice.name == "a"
    allowed = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "b"}],
    }
    request, _ = decode({"model": "m", "input": "x", "tools": tools, "tool_choice": allowed})
    assert [t.name for t in request.tools] == ["b"]
    assert request.tool_choice is not None and request.tool_choice.mode is ToolChoiceMode.REQUIRED


def test_effort_none_disables_reasoning_and_json_object() -> None:
    request, _ = decode(
        {
            "model": "m",
            "input": "x",
            "reasoning": {"effort": "none"},
            "text": {"format": {"type": "json_object"}},
        }
    )
    assert request.reasoning is not None and request.reasoning.enabled is False
    assert (
        request.output_format is not None
        and request.output_format.kind is OutputFormatKind.JSON_OBJECT
    )


def test_decode_options_alone() -> None:
    body = json.dumps({"model": "m", "input": "x", "background": True, "store": False}).encode()
    options = FRONTEND.decode_options(body)
    assert options.background is True and options.store is False
