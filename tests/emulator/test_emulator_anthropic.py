"""Anthropic Messages through the official `anthropic` SDK."""

from __future__ import annotations

import anthropic
import httpx
import pytest

# anthropic 2.x ships its own httpx fork, so a dropped connection may surface from either.
try:
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
        httpx.HTTPError,
        httpx2.HTTPError,
        anthropic.APIError,
    )
except ImportError:
    TRANSPORT_ERRORS = (httpx.HTTPError, anthropic.APIError)

TOOLS = [
    {
        "name": "get_forecast",
        "description": "Weather forecast for a city",
        "input_schema": {"type": "object"},
    },
    {"name": "get_tides", "description": "Tides", "input_schema": {"type": "object"}},
]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_create_echoes_with_usage(anthropic_client):
    message = anthropic_client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system="Be brief",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
    )
    assert message.content[0].text == "You said: hello world"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 4
    assert message.usage.output_tokens == 4
    assert message._request_id.startswith("req_")


def test_stream_helper_final_message(anthropic_client):
    with anthropic_client.messages.stream(
        model="m", max_tokens=100, messages=user("stream this")
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == ["You", " said:", " stream", " this"]
    assert final.content[0].text == "You said: stream this"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


def test_thinking_then_text_streamed(anthropic_client):
    with anthropic_client.messages.stream(
        model="m",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=user("answer [[think seventeen times three]]"),
    ) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "seventeen times three"
    assert thinking.signature.startswith("emu-sig-")
    assert text.text == "You said: answer"


def test_parallel_tool_use_streamed_and_plain(anthropic_client):
    prompt = '[[tool get_forecast {"city": "Oslo", "days": 3}]] [[tool get_tides]]'
    with anthropic_client.messages.stream(
        model="m", max_tokens=100, tools=TOOLS, messages=user(prompt)
    ) as stream:
        streamed = stream.get_final_message()
    plain = anthropic_client.messages.create(
        model="m", max_tokens=100, tools=TOOLS, messages=user(prompt)
    )
    for message in (streamed, plain):
        assert message.stop_reason == "tool_use"
        assert [block.name for block in message.content] == ["get_forecast", "get_tides"]
        assert message.content[0].input == {"city": "Oslo", "days": 3}
        assert message.content[1].input == {}
        assert message.content[0].id.startswith("toolu_")


def test_tool_result_reply(anthropic_client):
    message = anthropic_client.messages.create(
        model="m",
        max_tokens=100,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "[[tool get_forecast {}]]"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_forecast", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "snow"}],
                    },
                    {"type": "text", "text": "reminder [[error 500]]"},
                ],
            },
        ],
    )
    assert message.content[0].text == "Tool get_forecast returned: snow"


def test_echo_skips_user_messages_holding_only_tool_results(anthropic_client):
    message = anthropic_client.messages.create(
        model="m",
        max_tokens=100,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "the question"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_forecast", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "snow"}],
            },
            {"role": "assistant", "content": "noted"},
        ],
    )
    assert message.content[0].text == "You said: the question"


def test_max_tokens_and_stop_sequences(anthropic_client):
    truncated = anthropic_client.messages.create(
        model="m", max_tokens=3, messages=user("one two three four")
    )
    assert truncated.content[0].text == "You said: one"
    assert truncated.stop_reason == "max_tokens"

    stopped = anthropic_client.messages.create(
        model="m", max_tokens=100, messages=user("one two three"), stop_sequences=["two"]
    )
    assert stopped.content[0].text == "You said: one "
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == "two"


def test_count_tokens(anthropic_client):
    count = anthropic_client.messages.count_tokens(
        model="m",
        system="You are nice",
        tools=TOOLS,
        messages=user("count these three [[error 500]]"),
    )
    # system 3 + message 5 (directives are words too) + tool descriptions 5 + 1
    assert count.input_tokens == 3 + 5 + 5 + 1


def test_models_list_in_anthropic_shape(anthropic_client):
    models = list(anthropic_client.models.list())
    ids = [model.id for model in models]
    assert "claude-opus-4-6" in ids and "claude-sonnet-4-5" in ids
    assert models[0].type == "model"


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.APIStatusError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.InternalServerError, "overloaded_error"),
    ],
)
def test_errors(anthropic_client, status, error_class, error_type):
    with pytest.raises(error_class) as caught:
        anthropic_client.messages.create(
            model="m", max_tokens=10, messages=user(f"[[error {status}]]")
        )
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == error_type
    assert caught.value.body["type"] == "error"
    assert caught.value.request_id.startswith("req_")


def test_overloaded_once_then_success(anthropic_client, unique):
    prompt = unique("[[error 529 once]] try again")
    with pytest.raises(anthropic.InternalServerError) as caught:
        anthropic_client.messages.create(model="m", max_tokens=50, messages=user(prompt))
    assert caught.value.status_code == 529
    message = anthropic_client.messages.create(model="m", max_tokens=50, messages=user(prompt))
    assert message.content[0].text.startswith("You said: try again")


def test_sdk_retry_succeeds_after_once_error(base_url, unique):
    client = anthropic.Anthropic(api_key="k", base_url=base_url, max_retries=2)
    prompt = unique("[[error 429 once]] retried")
    message = client.messages.create(model="m", max_tokens=50, messages=user(prompt))
    assert message.content[0].text.startswith("You said: retried")


def test_missing_max_tokens_is_a_400(base_url):
    response = httpx.post(f"{base_url}/v1/messages", json={"model": "m", "messages": user("hi")})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": [{"type": "text", "text": ""}]}],
        [{"role": "user", "content": ""}],
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": ""}],
                    }
                ],
            },
        ],
    ],
)
def test_empty_text_is_a_400(base_url, messages):
    """As Anthropic: "text content blocks must be non-empty" (tool results included)."""
    body = {"model": "m", "max_tokens": 10, "messages": messages}
    response = httpx.post(f"{base_url}/v1/messages", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "non-empty" in response.json()["error"]["message"]


def test_empty_final_assistant_prefill_is_accepted(base_url):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]
    body = {"model": "m", "max_tokens": 10, "messages": messages}
    assert httpx.post(f"{base_url}/v1/messages", json=body).status_code == 200


def test_cut_stream_raises_in_sdk(anthropic_client):
    with (
        pytest.raises(TRANSPORT_ERRORS),
        anthropic_client.messages.stream(
            model="m", max_tokens=100, messages=user("[[cut 2]] a b c d")
        ) as stream,
    ):
        stream.get_final_message()


def test_unpaired_tool_use_and_tool_result_are_refused_as_anthropic_does(anthropic_client):
    """A tool_use without its tool_result in the next message, or a tool_result with no
    tool_use before it, is the API's 400: the gateway's translations must pair them."""
    use = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    unanswered = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": "and?"},
    ]
    orphan = [{"role": "user", "content": [result]}]
    for messages in (unanswered, orphan):
        with pytest.raises(anthropic.BadRequestError) as info:
            anthropic_client.messages.create(model="m", max_tokens=10, messages=messages)
        assert "tool_use" in str(info.value)
    paired = [*unanswered[:2], {"role": "user", "content": [result]}]
    answer = anthropic_client.messages.create(model="m", max_tokens=10, messages=paired)
    assert answer.content[0].text == "Tool f returned: ok"


THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"thinking": THINKING, "temperature": 0.5}, "temperature may only be set to 1"),
        ({"thinking": THINKING, "top_k": 5}, "top_k may not be set"),
        ({"thinking": THINKING, "top_p": 0.5}, "top_p must be greater than or equal to 0.95"),
        ({"model": "claude-sonnet-4-5", "temperature": 0.5, "top_p": 0.9}, "cannot both"),
        ({"stop_sequences": ["END", "\n"]}, "non-whitespace"),
        ({"system": [{"type": "text", "text": "hi"}, {"type": "text", "text": " "}]}, "system:"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "\n"}]}]}, "text"),
        ({"messages": [*user("hi"), {"role": "assistant", "content": "So "}]}, "trailing"),
        (
            {
                "messages": [
                    *user("hi"),
                    {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]},
                    *user("go on"),
                ]
            },
            "cannot be `thinking`",
        ),
        (
            {
                "thinking": THINKING,
                "messages": [*user("hi"), {"role": "assistant", "content": "So"}],
            },
            "a final `assistant` message must start with a thinking block",
        ),
        ({"tools": [{"name": "f", "input_schema": {"properties": {}}}]}, "Field required"),
        (
            {
                "messages": [
                    *user("hi"),
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "a:0", "name": "f", "input": {}}],
                    },
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a:0"}]},
                ]
            },
            "tool_use.id: String should match pattern",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            "'additionalProperties' must be explicitly set to false",
        ),
    ],
)
def test_shapes_anthropic_refuses_are_a_400(base_url, fields, says):
    body = {"model": "m", "max_tokens": 2048, "messages": user("hi"), **fields}
    response = httpx.post(f"{base_url}/v1/messages", json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "fields",
    [
        {"thinking": THINKING, "temperature": 1, "top_p": 0.95},
        {"model": "claude-opus-4-20250514", "temperature": 0.5, "top_p": 0.9},
    ],
)
def test_sampling_anthropic_takes_is_answered(base_url, fields):
    body = {"model": "m", "max_tokens": 2048, "messages": user("hi"), **fields}
    assert httpx.post(f"{base_url}/v1/messages", json=body).status_code == 200


@pytest.mark.parametrize("content", ["", []])
def test_an_empty_message_is_refused_as_anthropic_does(anthropic_client, content):
    messages = [{"role": "user", "content": content}, {"role": "assistant", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_client.messages.create(model="m", max_tokens=10, messages=messages)
    assert "messages.0: all messages must have non-empty content" in caught.value.message
    final = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": []}]
    anthropic_client.messages.create(model="m", max_tokens=10, messages=final)  # a prefill
