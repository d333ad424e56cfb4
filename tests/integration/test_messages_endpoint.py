"""Anthropic Messages through the real gateway to each upstream type, with the anthropic SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import LIMITED_KEY, MODELS_BY_PROVIDER

PROVIDERS = list(MODELS_BY_PROVIDER)
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
    },
}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)


def user(text: str) -> Any:
    return {"role": "user", "content": text}


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def post(gateway: Gateway, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_text(client: anthropic.Anthropic, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    message = client.messages.create(model=model, max_tokens=100, messages=[user("hello there")])
    assert text_of(message) == "You said: hello there"
    assert message.stop_reason == "end_turn" and message.model == model
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2, 4)
    assert message.id.startswith("msg_")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_helper_final_message(client: anthropic.Anthropic, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    with client.messages.stream(
        model=model, max_tokens=100, messages=[user("one two three")]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "You said: one two three"
    assert text_of(final) == "You said: one two three"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5 and final.usage.input_tokens == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_frames_follow_the_grammar(gateway: Gateway, api_key: str, provider: str) -> None:
    body = {
        "model": MODELS_BY_PROVIDER[provider],
        "max_tokens": 2048,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER_TOOL],
        "messages": [user('[[think hmm]] go [[tool get_weather {"city": "Oslo"}]]')],
    }
    response = post(gateway, body, **{"x-api-key": api_key})
    events = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and "ping" in events
    assert events[-2:] == ["message_delta", "message_stop"]
    starts = [e for e in events if e == "content_block_start"]
    stops = [e for e in events if e == "content_block_stop"]
    assert len(starts) == len(stops) >= 2
    indexes = [
        int(line.split('"index":')[1].split(",")[0].rstrip("}"))
        for line in response.text.splitlines()
        if line.startswith("data: ") and '"type":"content_block_start"' in line
    ]
    assert indexes == list(range(len(indexes)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_system_string_and_blocks_reach_upstream(
    client: anthropic.Anthropic, emulator: Emulator, provider: str
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    client.messages.create(
        model=model, max_tokens=50, system="be brief sysone", messages=[user("hi")]
    )
    assert "be brief sysone" in str(emulator.last()["body"])
    blocks: Any = [
        {"type": "text", "text": "first block systwo"},
        {"type": "text", "text": "cached block", "cache_control": {"type": "ephemeral"}},
    ]
    message = client.messages.create(
        model=model, max_tokens=50, system=blocks, messages=[user("x")]
    )
    assert text_of(message) == "You said: x"
    sent = str(emulator.last()["body"])
    assert "first block systwo" in sent and "cached block" in sent


@pytest.mark.parametrize("provider", PROVIDERS)
def test_multi_turn_answers_last_user_message(client: anthropic.Anthropic, provider: str) -> None:
    message = client.messages.create(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=50,
        messages=[user("first"), {"role": "assistant", "content": "ok"}, user("second")],
    )
    assert text_of(message) == "You said: second"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_messages_as_plain_string(gateway: Gateway, api_key: str, provider: str) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "messages": "just a string"}
    response = post(gateway, body, authorization=f"Bearer {api_key}")
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "You said: just a string"


def test_model_omitted_uses_default(gateway: Gateway, emulator: Emulator, api_key: str) -> None:
    response = post(gateway, {"messages": [user("no model")]}, **{"x-api-key": api_key})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "claude-sonnet-4-5"
    assert emulator.last()["path"] == "/v1/messages"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client: anthropic.Anthropic, provider: str, stream: bool) -> None:
    model = MODELS_BY_PROVIDER[provider]
    messages: list[Any] = [user('weather? [[tool get_weather {"city": "Oslo"}]]')]
    kwargs: Any = {"model": model, "max_tokens": 200, "tools": [WEATHER_TOOL]}
    if stream:
        with client.messages.stream(messages=messages, **kwargs) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(messages=messages, **kwargs)
    assert first.stop_reason == "tool_use"
    calls = [b for b in first.content if b.type == "tool_use"]
    assert [(c.name, c.input) for c in calls] == [("get_weather", {"city": "Oslo"})]
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "snow"}],
        },
    ]
    second = client.messages.create(messages=messages, **kwargs)
    assert text_of(second) == "Tool get_weather returned: snow"
    assert second.stop_reason == "end_turn"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tools_keep_order(
    client: anthropic.Anthropic, provider: str, stream: bool
) -> None:
    prompt = 'both [[tool get_weather {"city": "Oslo"}]] [[tool get_weather {"city": "Rome"}]]'
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER[provider],
        "max_tokens": 200,
        "tools": [WEATHER_TOOL],
        "messages": [user(prompt)],
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    calls = [b for b in message.content if b.type == "tool_use"]
    assert [c.input for c in calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert len({c.id for c in calls}) == 2 and message.stop_reason == "tool_use"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_thinking_block_then_text(client: anthropic.Anthropic, provider: str, stream: bool) -> None:
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER[provider],
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [user("[[think pondering deeply]] answer me")],
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    assert message.content[0].type == "thinking"
    assert "pondering deeply" in message.content[0].thinking
    assert message.content[0].signature
    assert text_of(message) == "You said: answer me"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_truncates(client: anthropic.Anthropic, provider: str, stream: bool) -> None:
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER[provider],
        # 16: OpenAI Responses refuses a smaller max_output_tokens (raised, with a warning).
        "max_tokens": 16,
        "messages": [user("[[words 40]] go")],
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    assert message.stop_reason == "max_tokens"
    assert len(text_of(message).split()) == 16 and message.usage.output_tokens == 16


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_stop_sequence(client: anthropic.Anthropic, provider: str) -> None:
    message = client.messages.create(
        model=MODELS_BY_PROVIDER[provider],
        max_tokens=100,
        stop_sequences=["three"],
        messages=[user("one two three four")],
    )
    assert text_of(message) == "You said: one two "
    if provider == "anthropic":
        assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "three")
    else:
        # Chat and Gemini report a plain stop; the gateway cannot tell which sequence hit.
        assert message.stop_reason in ("end_turn", "stop_sequence")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.InternalServerError),
    ],
)
def test_upstream_errors(
    client: anthropic.Anthropic, provider: str, status: int, error_class: type[Exception]
) -> None:
    with pytest.raises(error_class) as info:
        client.messages.create(
            model=MODELS_BY_PROVIDER[provider],
            max_tokens=50,
            messages=[user(f"[[error {status}]]")],
        )
    error: Any = info.value
    if status == 529 and provider == "anthropic":
        assert isinstance(error, anthropic.OverloadedError) and error.status_code == 529
        assert error.body["error"]["type"] == "overloaded_error"
    if status == 429:
        assert error.body["error"]["type"] == "rate_limit_error"
        assert error.response.headers.get("retry-after")
    assert error.body["request_id"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_upstream_error_before_stream_keeps_status(
    client: anthropic.Anthropic, provider: str
) -> None:
    with (
        pytest.raises(anthropic.RateLimitError),
        client.messages.stream(
            model=MODELS_BY_PROVIDER[provider], max_tokens=50, messages=[user("[[error 429]]")]
        ) as s,
    ):
        s.get_final_message()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mid_stream_cut_raises_error_event(client: anthropic.Anthropic, provider: str) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model=MODELS_BY_PROVIDER[provider],
            max_tokens=100,
            messages=[user("[[cut 2]] a b c d e f g h")],
        ) as s,
    ):
        s.get_final_message()
    assert info.value.body["type"] == "error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"temperature": 1.5}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"top_k": -1}, "top_k"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    client: anthropic.Anthropic, overrides: dict[str, Any], field: str
) -> None:
    # SDK 2.x types no sampling parameters; clients send them through extra_body.
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="gpt-4o-mini", max_tokens=50, messages=[user("hi")], extra_body=overrides
        )
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert field in body["error"]["message"] and body["request_id"]


def test_both_auth_header_forms_and_versions(gateway: Gateway, api_key: str) -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 20, "messages": [user("auth")]}
    old = post(gateway, body, **{"x-api-key": api_key, "anthropic-version": "2023-06-01"})
    new = post(
        gateway, body, authorization=f"Bearer {api_key}", **{"anthropic-version": "2026-10-21"}
    )
    assert old.status_code == new.status_code == 200


def test_wrong_key_is_401(gateway: Gateway) -> None:
    bad = anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model="gpt-4o-mini", max_tokens=20, messages=[user("hi")])
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    response = post(gateway, {"messages": "x"}, **{"x-api-key": "sk-wrong"})
    assert response.status_code == 401


def test_model_not_allowed_for_key_is_403(gateway: Gateway) -> None:
    limited = anthropic.Anthropic(base_url=gateway.url, api_key=LIMITED_KEY, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        limited.messages.create(model="gemini-2.5-flash", max_tokens=20, messages=[user("hi")])
    assert info.value.body["error"]["type"] == "permission_error"  # type: ignore[index]


def test_unknown_model_is_404(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="claude-nope", max_tokens=20, messages=[user("hi")])
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_models_list_and_retrieve(client: anthropic.Anthropic) -> None:
    ids = [m.id for m in client.models.list()]
    assert set(MODELS_BY_PROVIDER.values()) <= set(ids)
    page = client.models.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    assert next(m.id for m in client.models.list(limit=2, after_id=page.data[-1].id)) == ids[2]
    model = client.models.retrieve("gemini-2.5-flash")
    assert model.id == "gemini-2.5-flash" and model.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")


def test_head_root_answers(gateway: Gateway) -> None:
    response = httpx.head(gateway.url + "/")
    assert response.status_code == 200
    # docs/messages.md: every answer carries `request-id`, Claude Code's probe included.
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["x-request-id"] == response.headers["request-id"]
