"""Responses API through the official `openai` SDK, plain and streamed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response

TOOLS = [
    {
        "type": "function",
        "name": "get_forecast",
        "description": "Weather forecast",
        "parameters": {"type": "object"},
    },
    {
        "type": "function",
        "name": "get_tides",
        "description": "Tides",
        "parameters": {"type": "object"},
    },
]


def test_string_input_with_instructions(openai_client):
    response = openai_client.responses.create(
        model="gpt-5-mini", input="hello there", instructions="Be terse today"
    )
    assert response.output_text == "You said: hello there"
    assert response.status == "completed"
    assert response.output[0].id.startswith("msg_")
    assert response.usage.input_tokens == 2 + 3
    assert response.usage.output_tokens == 4


def test_item_input_echoes_last_user_item(openai_client):
    response = openai_client.responses.create(
        model="m",
        input=[
            {"role": "developer", "content": "rules"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "first"}],
            },
            {"role": "assistant", "content": "sure"},
            {"role": "user", "content": [{"type": "input_text", "text": "second  one"}]},
        ],
    )
    assert response.output_text == "You said: second one"


def test_stream_helper_final_response(openai_client):
    with openai_client.responses.stream(model="m", input="stream me please") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["You", " said:", " stream", " me", " please"]
    assert final.output_text == "You said: stream me please"
    assert final.status == "completed"


def test_raw_stream_event_sequence(openai_client):
    events = list(openai_client.responses.create(model="m", input="hi", stream=True))
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[4].logprobs == []
    assert len({event.response.id for event in (events[0], events[1], events[-1])}) == 1


def test_parallel_function_calls_streamed(openai_client):
    with openai_client.responses.stream(
        model="m",
        tools=TOOLS,
        input='[[tool get_forecast {"city": "Oslo"}]] [[tool get_tides {"port": "Bergen"}]]',
    ) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["get_forecast", "get_tides"]
    assert json.loads(calls[1].arguments) == {"port": "Bergen"}
    assert calls[0].call_id.startswith("call_") and calls[0].id.startswith("fc_")


def test_function_call_output_reply(openai_client):
    response = openai_client.responses.create(
        model="m",
        tools=TOOLS,
        input=[
            {"role": "user", "content": "[[tool get_forecast {}]]"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_forecast",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "rain all day"},
        ],
    )
    assert response.output_text == "Tool get_forecast returned: rain all day"


def test_tool_result_name_found_from_an_earlier_emulated_call(openai_client):
    first = openai_client.responses.create(model="m", tools=TOOLS, input="[[tool get_tides {}]]")
    call_id = first.output[0].call_id
    second = openai_client.responses.create(
        model="m",
        tools=TOOLS,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call_id, "output": "low"}],
    )
    assert second.output_text == "Tool get_tides returned: low"


def test_max_output_tokens_gives_incomplete(openai_client):
    response = openai_client.responses.create(model="m", input="a b c d e", max_output_tokens=2)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "You said:"

    events = list(
        openai_client.responses.create(
            model="m", input="a b c d e", max_output_tokens=2, stream=True
        )
    )
    assert events[-1].type == "response.incomplete"


def test_think_gives_reasoning_item(openai_client):
    with openai_client.responses.stream(model="m", input="q [[think step by step]]") as stream:
        final = stream.get_final_response()
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "step by step"
    assert reasoning.encrypted_content.startswith("emu-enc-")
    assert final.output_text == "You said: q"
    assert final.usage.output_tokens_details.reasoning_tokens == 3


def test_rate_limit_error(openai_client):
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.responses.create(model="m", input="[[error 429]]")
    assert caught.value.status_code == 429


def test_cut_stream_has_no_terminal_event(base_url):
    types: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            f"{base_url}/v1/responses",
            json={"model": "m", "input": "[[cut 1]] a b c", "stream": True},
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("event: "):
                types.append(line[7:])
    assert types[-1] == "response.output_text.delta"
    assert "response.completed" not in types


def test_responses_and_terminal_events_validate_strictly(base_url):
    """Validated, not constructed leniently as the SDK does: every field it requires."""
    body = {"model": "m", "input": "[[think 3]] strict please"}
    answer = httpx.post(f"{base_url}/v1/responses", json=body).json()
    Response.model_validate(answer)
    with httpx.stream(
        "POST", f"{base_url}/v1/responses", json={**body, "stream": True}
    ) as response:
        data = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1]["type"] == "response.completed"
    final = Response.model_validate(data[-1]["response"])
    assert final.usage is not None and final.usage.input_tokens_details.cache_write_tokens == 0


CUSTOM_AND_NAMESPACE: Any = [
    {"type": "custom", "name": "run_sql", "description": "SQL"},
    {
        "type": "namespace",
        "name": "fs",
        "description": "files",
        "tools": [{"type": "function", "name": "read", "parameters": {"type": "object"}}],
    },
]


@pytest.mark.parametrize("stream", [False, True])
def test_custom_tools_get_custom_tool_calls_and_namespace_members_their_namespace(
    openai_client, stream
):
    kwargs = {
        "model": "m",
        "tools": CUSTOM_AND_NAMESPACE,
        "input": '[[tool run_sql {"input":"select 1"}]] [[tool read {"path":"a"}]]',
    }
    if stream:
        with openai_client.responses.stream(**kwargs) as events:
            kinds = [event.type for event in events]
            response = events.get_final_response()
        assert "response.custom_tool_call_input.delta" in kinds
        assert "response.custom_tool_call_input.done" in kinds
    else:
        response = openai_client.responses.create(**kwargs)
    Response.model_validate(response.model_dump())
    custom, read = response.output
    assert custom.type == "custom_tool_call" and custom.status == "completed"
    assert (custom.name, custom.input) == ("run_sql", "select 1")
    assert read.type == "function_call" and (read.name, read.namespace) == ("read", "fs")
    assert json.loads(read.arguments) == {"path": "a"}
    answered = openai_client.responses.create(
        model="m",
        tools=CUSTOM_AND_NAMESPACE,
        input=[
            {
                "type": "custom_tool_call",
                "call_id": custom.call_id,
                "name": "run_sql",
                "input": "select 1",
            },
            {"type": "custom_tool_call_output", "call_id": custom.call_id, "output": "1"},
        ],
    )
    assert answered.output_text == "Tool run_sql returned: 1"
