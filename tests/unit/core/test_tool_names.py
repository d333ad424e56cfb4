"""Tool names an upstream refuses are renamed for it, and named back in its answers."""

from __future__ import annotations

import pytest

from polyrelay.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    PartStart,
    Role,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from polyrelay.ir.tool_names import (
    ANTHROPIC_NAMES,
    GEMINI_NAMES,
    OPENAI_NAMES,
    ToolNameRule,
    client_event,
    client_response,
    upstream_request,
)
from polyrelay.ir.tools import FunctionTool, ToolChoice, ToolChoiceMode

LONG = "mcp__" + "x" * 80


@pytest.mark.parametrize(
    ("rule", "name", "kept"),
    [
        (OPENAI_NAMES, "get_weather", True),
        (OPENAI_NAMES, "a" * 64, True),
        (OPENAI_NAMES, "a" * 65, False),
        (OPENAI_NAMES, "fs.read", False),
        (OPENAI_NAMES, "2fa-check", True),
        (ANTHROPIC_NAMES, "a" * 128, True),
        (ANTHROPIC_NAMES, "a" * 129, False),
        (ANTHROPIC_NAMES, "fs:read", False),
        (GEMINI_NAMES, "fs.read:v2", True),
        (GEMINI_NAMES, "2fa_check", False),
        (GEMINI_NAMES, "-dash", False),
        (GEMINI_NAMES, "a" * 65, False),
    ],
)
def test_a_name_is_kept_only_when_legal(rule: ToolNameRule, name: str, kept: bool) -> None:
    fitted = rule.fit(name)
    assert (fitted == name) is kept
    assert rule.legal.fullmatch(fitted)


def test_renamed_names_are_stable_readable_and_distinct() -> None:
    first, second = OPENAI_NAMES.fit(LONG + "_a"), OPENAI_NAMES.fit(LONG + "_b")
    assert first != second and len(first) == len(second) == 64
    assert first.startswith("mcp__xxx") and OPENAI_NAMES.fit(LONG + "_a") == first
    assert GEMINI_NAMES.fit("2fa check").startswith("_2fa_check_")


def request_with(name: str) -> ChatRequest:
    return ChatRequest(
        model="m",
        tools=(FunctionTool(name=name), FunctionTool(name="plain")),
        tool_choice=ToolChoice(mode=ToolChoiceMode.NAMED, name=name),
        messages=(
            Message(role=Role.USER, parts=(TextPart(text="hi"),)),
            Message(role=Role.ASSISTANT, parts=(ToolCallPart(id="c1", name=name),)),
            Message(role=Role.TOOL, parts=(ToolResultPart(tool_call_id="c1", name=name),)),
        ),
    )


def test_every_place_a_name_appears_is_renamed_and_mapped_back() -> None:
    renamed, back = upstream_request(request_with(LONG), OPENAI_NAMES)
    new = OPENAI_NAMES.fit(LONG)
    assert back == {new: LONG}
    assert [tool.name for tool in renamed.tools] == [new, "plain"]
    assert renamed.tool_choice is not None and renamed.tool_choice.name == new
    call = renamed.messages[1].parts[0]
    result = renamed.messages[2].parts[0]
    assert isinstance(call, ToolCallPart) and call.name == new
    assert isinstance(result, ToolResultPart) and result.name == new
    answer = ChatResponse(
        id="r",
        model="m",
        parts=(TextPart(text="ok"), ToolCallPart(id="c2", name=new, arguments="{}")),
        stop_reason=StopReason.TOOL_USE,
    )
    named = client_response(answer, back)
    assert isinstance(named.parts[1], ToolCallPart) and named.parts[1].name == LONG
    event = client_event(PartStart(index=1, part=ToolCallPart(id="c2", name=new)), back)
    assert isinstance(event, PartStart) and isinstance(event.part, ToolCallPart)
    assert event.part.name == LONG


def test_a_request_whose_names_are_legal_is_the_same_object() -> None:
    request = request_with("get_weather")
    renamed, back = upstream_request(request, GEMINI_NAMES)
    assert renamed is request and back == {}
    answer = ChatResponse(id="r", model="m", parts=(), stop_reason=StopReason.END_TURN)
    assert client_response(answer, None) is answer
