"""Chat Completions through the official `openai` SDK."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_forecast",
            "description": "Weather forecast",
            "parameters": {"type": "object"},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_tides",
            "description": "Tide table",
            "parameters": {"type": "object"},
        },
    },
]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_plain_completion_echoes_last_user_message(openai_client):
    completion = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief please"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hello   there\n world"},
        ],
    )
    choice = completion.choices[0]
    assert choice.message.content == "You said: hello there world"
    assert choice.finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini-2024-07-18"  # the snapshot, as OpenAI answers
    assert completion.usage.prompt_tokens == 3 + 1 + 1 + 3
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 13


def test_stream_concatenates_to_the_plain_text_with_usage(openai_client):
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("one two three"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["You", " said:", " one", " two", " three"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_stream_without_include_usage_sends_no_usage(openai_client):
    chunks = list(
        openai_client.chat.completions.create(model="m", messages=user("hi"), stream=True)
    )
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


def test_parallel_tool_calls(openai_client):
    completion = openai_client.chat.completions.create(
        model="m",
        tools=TOOLS,
        messages=user('check [[tool get_forecast {"city": "Oslo"}]] [[tool get_tides {}]]'),
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert [call.function.name for call in calls] == ["get_forecast", "get_tides"]
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}
    assert calls[0].id.startswith("call_")
    assert calls[0].id != calls[1].id


def test_stream_helper_accumulates_parallel_tool_calls(openai_client):
    with openai_client.chat.completions.stream(
        model="m",
        tools=TOOLS,
        messages=user('[[tool get_forecast {"city": "Oslo", "days": 3}]] [[tool get_tides]]'),
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [call.function.name for call in calls] == ["get_forecast", "get_tides"]
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo", "days": 3}
    assert calls[1].function.arguments == "{}"
    assert calls[0].type == "function"
    assert final.choices[0].finish_reason == "tool_calls"


def test_raw_stream_sends_call_id_only_in_first_fragment(base_url):
    body = {
        "model": "m",
        "stream": True,
        "tools": TOOLS,
        "messages": user('[[tool get_forecast {"city": "Oslo"}]]'),
    }
    lines = httpx.post(f"{base_url}/v1/chat/completions", json=body).text.split("\n\n")
    fragments = [
        json.loads(line[6:])["choices"][0]["delta"]["tool_calls"][0]
        for line in lines
        if '"tool_calls":[' in line
    ]
    assert len(fragments) >= 3
    assert "id" in fragments[0] and all("id" not in f for f in fragments[1:])
    assert all(isinstance(fragment["index"], int) for fragment in fragments)
    assert lines[-2] == "data: [DONE]"


def test_tool_results_reply_names_the_tool(openai_client):
    completion = openai_client.chat.completions.create(
        model="m",
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "[[tool get_forecast {}]] [[error 500]]"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_forecast", "arguments": "{}"},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_tides", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_b", "content": "high at  noon"},
            {"role": "system", "content": "trailing system note"},
        ],
    )
    assert completion.choices[0].message.content == (
        "Tool get_forecast returned: sunny\nTool get_tides returned: high at noon"
    )


def test_max_tokens_truncates_with_length(openai_client):
    completion = openai_client.chat.completions.create(
        model="m", messages=user("a b c d e f"), max_tokens=3
    )
    assert completion.choices[0].message.content == "You said: a"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_stop_sequence_cuts_before_match(openai_client):
    completion = openai_client.chat.completions.create(
        model="m", messages=user("alpha beta gamma"), stop=["gam", "zzz"]
    )
    assert completion.choices[0].message.content == "You said: alpha beta "
    assert completion.choices[0].finish_reason == "stop"


def test_more_than_four_stop_sequences_is_a_400(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="m", messages=user("hi"), stop=["a", "b", "c", "d", "e"]
        )
    assert "stop" in str(caught.value)


def test_words_and_think_directives(openai_client):
    completion = openai_client.chat.completions.create(
        model="m", messages=user("[[words 4]] [[think pondering deeply]]")
    )
    message = completion.choices[0].message
    assert message.content == "w1 w2 w3 w4"
    assert message.model_extra["reasoning_content"] == "pondering deeply"
    assert completion.usage.completion_tokens_details.reasoning_tokens == 2


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_error_directive_raises_sdk_error(openai_client, status, error_class):
    with pytest.raises(error_class) as caught:
        openai_client.chat.completions.create(model="m", messages=user(f"[[error {status}]]"))
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and "message" in caught.value.body
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "1"


def test_unknown_tool_is_a_400(openai_client):
    with pytest.raises(openai.BadRequestError, match="nope"):
        openai_client.chat.completions.create(
            model="m", tools=TOOLS, messages=user("[[tool nope {}]]")
        )


def test_cut_ends_the_stream_early(openai_client):
    stream = openai_client.chat.completions.create(
        model="m", messages=user("[[cut 2]] one two three four"), stream=True
    )
    received: list[str] = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "You said:"


def test_unanswered_tool_calls_and_stray_tool_messages_are_refused(openai_client):
    """As OpenAI: tool calls are answered by tool messages right after them, and a tool
    message answers a call before it."""
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    asked = {"role": "assistant", "content": None, "tool_calls": [call]}
    answer = {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    for messages in (
        [*user("hi"), asked, *user("and?")],
        [*user("hi"), answer],
    ):
        with pytest.raises(openai.BadRequestError):
            openai_client.chat.completions.create(model="m", messages=messages)
    reply = openai_client.chat.completions.create(model="m", messages=[*user("hi"), asked, answer])
    assert reply.choices[0].message.content == "Tool f returned: ok"


def test_an_empty_content_array_is_refused_as_openai_does(openai_client):
    messages = [{"role": "user", "content": "hi"}, {"role": "user", "content": []}]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="m", messages=messages)
    assert caught.value.code == "empty_array"
    assert caught.value.param == "messages[1].content"
    assert "empty array" in caught.value.message
