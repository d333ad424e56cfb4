"""Tool names an upstream refuses are renamed for it and named back for the client
(ir/tool_names.py): a Messages client's long MCP-style name on OpenAI and Gemini
upstreams, a Chat client's name that starts with a digit on Gemini, a Gemini-style dotted
name from a Responses client on an OpenAI Chat upstream. The emulator refuses such names
as the real APIs do (a 400), so each tool loop below only completes renamed; a forced
tool choice has the emulator call the tool by the name it was given, as a model would.
Official SDKs → a real gateway → the emulator."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway

LONG = "mcp__" + "server_with_a_long_name__" * 3 + "read_the_file"  # 93 characters
SCHEMA: Any = {"type": "object", "properties": {"city": {"type": "string"}}}


def declared_names(body: dict[str, Any]) -> list[str]:
    """The function names an upstream request declares, in any of the three shapes."""
    names = []
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            names.append(declaration["name"])
        function = tool.get("function") or tool
        if "name" in function:
            names.append(function["name"])
    return names


@pytest.fixture
def claude(gateway: Gateway, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)


@pytest.fixture
def oai(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5-mini", "gemini-2.5-flash"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_messages_clients_long_tool_name_round_trips(
    claude: anthropic.Anthropic, emulator: Emulator, model: str, stream: bool
) -> None:
    tools: Any = [{"name": LONG, "description": "reads", "input_schema": SCHEMA}]
    messages: Any = [{"role": "user", "content": "Oslo"}]
    kwargs: Any = {"model": model, "max_tokens": 200, "tools": tools, "messages": messages}
    kwargs["tool_choice"] = {"type": "tool", "name": LONG}
    if stream:
        with claude.messages.stream(**kwargs) as events:
            first = events.get_final_message()
    else:
        first = claude.messages.create(**kwargs)
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == LONG and call.input == {"city": "Oslo"}
    [sent] = declared_names(emulator.last()["body"])
    assert sent != LONG and len(sent) <= 64 and sent.startswith("mcp__server_with")
    messages += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": "cold"}]},
    ]  # fmt: skip
    del kwargs["tool_choice"]
    final = claude.messages.create(**kwargs)
    assert final.content[-1].type == "text"
    assert final.content[-1].text == f"Tool {sent} returned: cold"  # the upstream's name


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_clients_name_gemini_refuses_round_trips(
    oai: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    tool: Any = {"type": "function", "function": {"name": "2fa_check", "parameters": SCHEMA}}
    messages: Any = [{"role": "user", "content": "Oslo"}]
    kwargs: Any = {"model": "gemini-2.5-flash", "messages": messages, "tools": [tool]}
    kwargs["tool_choice"] = {"type": "function", "function": {"name": "2fa_check"}}
    if stream:
        with oai.chat.completions.stream(**kwargs) as events:
            first = events.get_final_completion()
    else:
        first = oai.chat.completions.create(**kwargs)
    [call] = first.choices[0].message.tool_calls or []
    assert call.function.name == "2fa_check"
    sent = emulator.last()["body"]
    assert declared_names(sent)[0].startswith("_2fa_check_")
    assert sent["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == [
        declared_names(sent)[0]
    ]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "123456"},
    ]
    del kwargs["tool_choice"]
    final = oai.chat.completions.create(**kwargs)
    assert final.choices[0].message.content == f"Tool {declared_names(sent)[0]} returned: 123456"


def test_a_dotted_name_from_a_responses_client_round_trips_on_chat(
    oai: openai.OpenAI, emulator: Emulator
) -> None:
    tool: Any = {"type": "function", "name": "fs.read", "parameters": SCHEMA}
    first = oai.responses.create(
        model="gpt-4o-mini",
        input="Oslo",
        tools=[tool],
        tool_choice={"type": "function", "name": "fs.read"},
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "fs.read"
    [sent] = declared_names(emulator.last()["body"])
    assert sent.startswith("fs_read_")
    final = oai.responses.create(
        model="gpt-4o-mini",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "text"}],
        tools=[tool],
    )
    assert final.output_text == f"Tool {sent} returned: text"


def test_the_emulator_refuses_the_names_as_the_providers_do(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    """The fast path relays the client's own names: the upstream's 400 reaches it."""
    tool: Any = {"type": "function", "function": {"name": "fs.read", "parameters": SCHEMA}}
    # (The gateway's own Chat frontend checks the name before the upstream would.)
    with pytest.raises(openai.BadRequestError, match=r"tools\[0\]\.function\.name"):
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], tools=[tool]
        )
    with pytest.raises(anthropic.BadRequestError, match="should match pattern"):
        claude.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=50,
            tools=[{"name": "fs.read", "input_schema": SCHEMA}],
            messages=[{"role": "user", "content": "hi"}],
        )


def test_count_tokens_names_the_tools_as_messages_does(
    claude: anthropic.Anthropic, emulator: Emulator
) -> None:
    """Claude Code counts with its whole tool list; Gemini refuses names past 64."""
    counted = claude.messages.count_tokens(
        model="gemini-2.5-flash",
        tools=[{"name": LONG, "input_schema": SCHEMA}, {"name": "1tool", "input_schema": SCHEMA}],
        messages=[{"role": "user", "content": "hello"}],
    )
    assert counted.input_tokens > 0
    body = emulator.last()["body"]
    sent = declared_names(body.get("generateContentRequest", body))
    assert LONG not in sent and "1tool" not in sent and len(sent) == 2
