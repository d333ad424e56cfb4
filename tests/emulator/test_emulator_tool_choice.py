"""Forced and refused tool choice, in each provider's own terms, through the official SDKs:
a forced choice is answered with a call of the tool (its arguments the smallest instance of
its schema), plain and streamed; `none` gets no call even where the script asks for one."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.genai import types

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
# The first declared tool is the one a choice of "any tool" gets.
FORCED_ARGS = {"city": "weather please", "days": 1}
PROMPT = "weather please"
SCRIPTED = 'weather please [[tool get_tides {"port": "Bergen"}]]'


def chat_tools() -> Any:
    return [
        {"type": "function", "function": {"name": name, "parameters": SCHEMA}}
        for name in ("get_forecast", "get_tides")
    ]


def chat_calls(client: openai.OpenAI, stream: bool, prompt: str, choice: Any) -> list[Any]:
    kwargs: Any = {
        "model": "m",
        "messages": [{"role": "user", "content": prompt}],
        "tools": chat_tools(),
        "tool_choice": choice,
    }
    if stream:
        with client.chat.completions.stream(**kwargs) as events:
            message = events.get_final_completion().choices[0].message
    else:
        message = client.chat.completions.create(**kwargs).choices[0].message
    if not message.tool_calls:
        assert message.content == "You said: weather please"
    return [(c.function.name, _json(c.function.arguments)) for c in message.tool_calls or []]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("prompt", "choice", "expected"),
    [
        (PROMPT, "required", [("get_forecast", FORCED_ARGS)]),
        (PROMPT, {"type": "function", "function": {"name": "get_tides"}},
         [("get_tides", FORCED_ARGS)]),
        (SCRIPTED, "required", [("get_tides", {"port": "Bergen"})]),  # the script's call fits
        (SCRIPTED, "none", []),
        (SCRIPTED, "auto", [("get_tides", {"port": "Bergen"})]),
    ],
)  # fmt: skip
def test_chat_tool_choice(openai_client, stream, prompt, choice, expected):
    assert chat_calls(openai_client, stream, prompt, choice) == expected


def _json(value: str) -> Any:
    return json.loads(value)


def responses_calls(client: openai.OpenAI, stream: bool, prompt: str, choice: Any) -> Any:
    tools: Any = [{"type": "function", "name": n, "parameters": SCHEMA, "strict": False}
                  for n in ("get_forecast", "get_tides")]  # fmt: skip
    kwargs: Any = {"model": "m", "input": prompt, "tools": tools, "tool_choice": choice}
    if stream:
        with client.responses.stream(**kwargs) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**kwargs)
    calls = [(i.name, _json(i.arguments)) for i in response.output if i.type == "function_call"]
    if not calls:
        assert response.output_text == "You said: weather please"
    return calls


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("prompt", "choice", "expected"),
    [
        (PROMPT, "required", [("get_forecast", FORCED_ARGS)]),
        (PROMPT, {"type": "function", "name": "get_tides"}, [("get_tides", FORCED_ARGS)]),
        (SCRIPTED, "none", []),
    ],
)
def test_responses_tool_choice(openai_client, stream, prompt, choice, expected):
    assert responses_calls(openai_client, stream, prompt, choice) == expected


def anthropic_calls(client: anthropic.Anthropic, stream: bool, prompt: str, choice: Any) -> Any:
    tools: Any = [{"name": n, "input_schema": SCHEMA} for n in ("get_forecast", "get_tides")]
    kwargs: Any = {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": prompt}],
        "tools": tools,
        "tool_choice": choice,
    }
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert message.stop_reason == ("tool_use" if calls else "end_turn")
    return calls


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("prompt", "choice", "expected"),
    [
        (PROMPT, {"type": "any"}, [("get_forecast", FORCED_ARGS)]),
        (PROMPT, {"type": "tool", "name": "get_tides"}, [("get_tides", FORCED_ARGS)]),
        (SCRIPTED, {"type": "none"}, []),
    ],
)
def test_anthropic_tool_choice(anthropic_client, stream, prompt, choice, expected):
    assert anthropic_calls(anthropic_client, stream, prompt, choice) == expected


def test_anthropic_refuses_thinking_with_a_forced_tool(anthropic_client):
    with pytest.raises(anthropic.BadRequestError, match="Thinking may not be enabled"):
        anthropic_client.messages.create(
            model="m",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": PROMPT}],
            tools=[{"name": "get_forecast", "input_schema": SCHEMA}],
            tool_choice={"type": "any"},
        )


def gemini_calls(
    client: Any, stream: bool, prompt: str, config: types.FunctionCallingConfig
) -> Any:
    declarations = [
        # Gemini's own OpenAPI schema, with its types in capitals.
        types.FunctionDeclaration(
            name="get_forecast",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
            ),
        ),
        types.FunctionDeclaration(name="get_tides", parameters_json_schema=SCHEMA),
    ]
    settings = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=declarations)],
        tool_config=types.ToolConfig(function_calling_config=config),
    )
    kwargs: Any = {"model": "gemini-2.5-flash", "contents": prompt, "config": settings}
    if stream:
        chunks = list(client.models.generate_content_stream(**kwargs))
        calls = [call for chunk in chunks for call in chunk.function_calls or []]
        text = "".join(chunk.text or "" for chunk in chunks if not chunk.function_calls)
    else:
        response = client.models.generate_content(**kwargs)
        calls, text = response.function_calls or [], response.text
    if not calls:
        assert text == "You said: weather please"
    return [(call.name, call.args) for call in calls]


ANY = types.FunctionCallingConfigMode.ANY


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("prompt", "config", "expected"),
    [
        (PROMPT, types.FunctionCallingConfig(mode=ANY),
         [("get_forecast", {"city": "weather please"})]),
        (PROMPT, types.FunctionCallingConfig(mode=ANY, allowed_function_names=["get_tides"]),
         [("get_tides", FORCED_ARGS)]),
        (SCRIPTED, types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.NONE), []),
    ],
)  # fmt: skip
def test_gemini_function_calling_config(genai_client, stream, prompt, config, expected):
    assert gemini_calls(genai_client, stream, prompt, config) == expected


def test_forced_tool_after_tool_results_calls_again(openai_client):
    """As a real model: a forced choice holds for every turn it is sent with."""
    first = openai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": PROMPT}], tools=chat_tools(),
        tool_choice="required",
    )  # fmt: skip
    call = first.choices[0].message.tool_calls[0]
    messages: Any = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    again = openai_client.chat.completions.create(
        model="m", messages=messages, tools=chat_tools(), tool_choice="required"
    )
    assert again.choices[0].finish_reason == "tool_calls"
    settled = openai_client.chat.completions.create(
        model="m", messages=messages, tools=chat_tools(), tool_choice="auto"
    )
    assert settled.choices[0].message.content == "Tool get_forecast returned: sunny"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
         "tools": chat_tools(), "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
         "tool_choice": "required"}),
        ("/v1/responses", {"input": "x", "tool_choice": {"type": "function", "name": "nope"}}),
        ("/v1/messages", {"max_tokens": 10, "messages": [{"role": "user", "content": "x"}],
         "tools": [{"name": "a", "input_schema": SCHEMA}],
         "tool_choice": {"type": "tool", "name": "nope"}}),
        ("/v1beta/models/g:generateContent", {"contents": [{"parts": [{"text": "x"}]}],
         "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    ],
)  # fmt: skip
def test_impossible_choice_is_a_400(base_url, path, body):
    response = httpx.post(base_url + path, json={"model": "m", **body})
    assert response.status_code == 400
    assert "tool" in response.text.lower()
