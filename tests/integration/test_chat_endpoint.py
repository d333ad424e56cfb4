"""Chat Completions through the real gateway to each upstream type, with the openai SDK."""

from __future__ import annotations

import base64
import json
import socket
import time
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import LIMITED_KEY, MODELS_BY_PROVIDER

PROVIDERS = list(MODELS_BY_PROVIDER)
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def user(text: str) -> Any:
    return {"role": "user", "content": text}


def stream_text(client: openai.OpenAI, **kwargs: Any) -> tuple[str, list[Any]]:
    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.mark.parametrize("provider", PROVIDERS)
def test_plain_text(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.chat.completions.create(model=model, messages=[user("hello there")])
    assert result.choices[0].message.content == "You said: hello there"
    assert result.choices[0].finish_reason == "stop"
    assert result.model == model
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2, 4)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streaming_with_usage(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    text, chunks = stream_text(
        client,
        model=model,
        messages=[user("one two three")],
        stream_options={"include_usage": True},
    )
    assert text == "You said: one two three"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_without_include_usage_has_no_usage_chunk(
    gateway: Gateway, emulator: Emulator, api_key: str, provider: str
) -> None:
    """As OpenAI streams it: no usage and no last chunk without choices, which the usual
    `chunk.choices[0]` loop cannot read; the fast path still asks the upstream for the
    usage, which the gateway meters."""
    body = {"model": MODELS_BY_PROVIDER[provider], "messages": [user("one two")], "stream": True}
    headers = {"authorization": f"Bearer {api_key}"}
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json=body, headers=headers
    ) as response:
        raw = response.read()
    frames = [f for f in raw.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    chunks = [json.loads(f.removeprefix(b"data: ")) for f in frames[:-1]]
    assert all(chunk["choices"] for chunk in chunks)
    # No usage: OpenAI's `"usage":null` members may stay on the fast path (relay.py).
    assert all(chunk.get("usage") is None for chunk in chunks)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)
    stream = client.chat.completions.create(**body)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "You said: one two"
    if provider == "openai":
        assert emulator.last()["body"]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_helper_final_completion(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    with client.chat.completions.stream(model=model, messages=[user("helper test")]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "You said: helper test"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_system_prompt_reaches_upstream(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "be very brief"}, user("hi")],
    )
    assert result.choices[0].message.content == "You said: hi"
    assert result.usage is not None and result.usage.prompt_tokens == 4
    assert "be very brief" in str(emulator.last()["body"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_multi_turn_answers_last_user_message(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.chat.completions.create(
        model=model,
        messages=[
            user("first question"),
            {"role": "assistant", "content": "You said: first question"},
            user("second question"),
        ],
    )
    assert result.choices[0].message.content == "You said: second question"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client: openai.OpenAI, provider: str, stream: bool) -> None:
    model = MODELS_BY_PROVIDER[provider]
    messages: list[Any] = [user('weather? [[tool get_weather {"city": "Paris"}]]')]
    if stream:
        with client.chat.completions.stream(
            model=model, messages=messages, tools=[WEATHER_TOOL]
        ) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments.replace(" ", "")) for c in calls] == [
        ("get_weather", '{"city":"Paris"}')
    ]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
    ]
    final = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == "Tool get_weather returned: sunny"
    assert final.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_calls(client: openai.OpenAI, provider: str, stream: bool) -> None:
    model = MODELS_BY_PROVIDER[provider]
    prompt = 'two [[tool get_weather {"city": "Paris"}]] [[tool get_weather {"city": "Rome"}]]'
    kwargs: Any = {"model": model, "messages": [user(prompt)], "tools": [WEATHER_TOOL]}
    if stream:
        with client.chat.completions.stream(**kwargs) as s:
            result = s.get_final_completion()
    else:
        result = client.chat.completions.create(**kwargs)
    calls = result.choices[0].message.tool_calls or []
    assert [c.function.arguments.replace(" ", "") for c in calls] == [
        '{"city":"Paris"}',
        '{"city":"Rome"}',
    ]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image_input_reaches_upstream(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    content: Any = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    result = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}]
    )
    assert result.choices[0].message.content == "You said: what is this"
    assert PNG in str(emulator.last()["body"])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_truncates_with_length(
    client: openai.OpenAI, provider: str, stream: bool
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    # 18, not fewer: OpenAI Responses upstreams take no max_output_tokens below 16.
    kwargs: Any = {"model": model, "messages": [user("[[words 30]] go")], "max_tokens": 18}
    if stream:
        # Not the .stream() helper: it raises LengthFinishReasonError on `length`.
        chunks = list(client.chat.completions.create(stream=True, **kwargs))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        result = client.chat.completions.create(**kwargs)
        text, finish = result.choices[0].message.content or "", result.choices[0].finish_reason
    assert len(text.split()) == 18
    assert finish == "length"


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "openai-responses"])
def test_stop_sequence(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.chat.completions.create(
        model=model, messages=[user("alpha beta gamma")], stop=["gamma"]
    )
    assert result.choices[0].message.content.strip() == "You said: alpha beta"  # type: ignore[union-attr]
    assert result.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_n_choices(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.chat.completions.create(model=model, messages=[user("twice")], n=2)
    assert [c.index for c in result.choices] == [0, 1]
    assert {c.message.content for c in result.choices} == {"You said: twice"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_n_choices_streamed(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    chunks = list(
        client.chat.completions.create(model=model, messages=[user("twice")], n=2, stream=True)
    )
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: "You said: twice", 1: "You said: twice"}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("status", "error"), [(429, openai.RateLimitError), (500, openai.InternalServerError)]
)
def test_upstream_errors_are_relayed(
    client: openai.OpenAI, provider: str, status: int, error: type[Exception]
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    with pytest.raises(error) as info:
        client.chat.completions.create(model=model, messages=[user(f"[[error {status}]]")])
    assert info.value.status_code == status  # type: ignore[attr-defined]
    if status == 429:  # OpenAI's code, whatever the upstream's vocabulary (RESOURCE_EXHAUSTED)
        assert info.value.code == "rate_limit_exceeded"  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_upstream_error_before_stream_keeps_status(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    with pytest.raises(openai.RateLimitError):
        list(
            client.chat.completions.create(
                model=model, messages=[user("[[error 429]]")], stream=True
            )
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mid_stream_cut_ends_with_error(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    """The answer began, so the upstream was reached; its address is not the client's."""
    model = MODELS_BY_PROVIDER[provider]
    with pytest.raises(openai.APIError) as info:
        list(
            client.chat.completions.create(
                model=model, messages=[user("[[cut 2]] one two three four five")], stream=True
            )
        )
    assert "could not be reached" not in info.value.message
    assert emulator.url.split("//")[1] not in info.value.message


def test_an_unreachable_upstream_is_not_named_to_the_client(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="unreachable-model", messages=[user("hi")])
    assert "The upstream could not be reached" in info.value.message
    assert "127.0.0.1" not in info.value.message


def test_unreachable_upstream_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="unreachable-model", messages=[user("hi")])
    assert info.value.status_code == 502


def test_timed_out_upstream_is_504(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="slow-model", messages=[user("[[delay 3000]] hi")])
    assert info.value.status_code == 504


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("temperature", 2.5, "temperature"),
        ("top_p", 1.5, "top_p"),
        ("presence_penalty", -3, "presence_penalty"),
        ("frequency_penalty", "high", "frequency_penalty"),
        ("n", 0, "n"),
        ("max_tokens", "ten", "max_tokens"),
        ("stop", ["a", "b", "c", "d", "e"], "stop"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    client: openai.OpenAI, field: str, value: Any, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[user("hi")], extra_body={field: value}
        )
    assert param in info.value.message


def test_wrong_message_type_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "wizard", "content": "x"}]
        )  # type: ignore[list-item]
    assert "role" in info.value.message


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[user("hi")])
    assert "no-such-model" in info.value.message


def test_missing_and_wrong_key_are_401(gateway: Gateway) -> None:
    body = {"model": "gpt-4o-mini", "messages": [user("hi")]}
    missing = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    wrong = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="gpt-4o-mini", messages=[user("hi")])


def test_key_limited_to_models_gets_403(gateway: Gateway) -> None:
    limited = openai.OpenAI(base_url=gateway.url + "/v1", api_key=LIMITED_KEY, max_retries=0)
    assert limited.chat.completions.create(model="gpt-4o-mini", messages=[user("ok")]).choices
    with pytest.raises(openai.PermissionDeniedError):
        limited.chat.completions.create(model="gemini-2.5-flash", messages=[user("hi")])


def test_stop_on_responses_upstream_is_warned(gateway: Gateway, api_key: str) -> None:
    # The Responses API has no stop parameter: dropped, and the client is told.
    body = {"model": "gpt-5-mini", "messages": [user("alpha beta")], "stop": ["beta"]}
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200
    assert "stop" in response.headers["polyrelay-warnings"]


def test_a_warning_quoting_the_client_is_one_line_of_ascii(gateway: Gateway, api_key: str) -> None:
    # An unknown field's name is quoted in the warning header (on a translated path): CR LF
    # in it once made the server drop the response (an invalid header value).
    body = (
        '{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}],'
        ' "a\\r\\nx-injected: 1": 1, "caf\\u00e9\\u2603": 2}'
    )
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"},
    )
    assert response.status_code == 200
    assert "x-injected" not in response.headers
    warning = response.headers["polyrelay-warnings"]
    assert warning.isascii() and warning.isprintable()
    assert "a  x-injected: 1 is not supported" in warning
    assert "caf\\xe9\\u2603 is not supported" in warning


def test_the_request_log_shows_a_model_name_on_one_bounded_line(
    gateway: Gateway, api_key: str
) -> None:
    model = "unknown-model-to-log\nFORGED LINE " + "m" * 5000
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": model, "messages": [user("hi")]},
        headers={"authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 404
    lines = gateway.log.read_text().splitlines()
    assert not any(line.startswith("FORGED LINE") for line in lines)
    [logged] = [line for line in lines if "model=unknown-model-to-log" in line]
    assert "model=unknown-model-to-log FORGED LINE mmm" in logged
    assert len(logged) < 400


def test_a_client_gone_before_its_body_is_read_is_logged_without_a_traceback(
    gateway: Gateway, api_key: str
) -> None:
    seen = len(gateway.log.read_text())
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(head.encode() + b'{"model": "gpt-4o-mini", ')
        time.sleep(0.2)  # the gateway is reading the body when the client goes
    deadline = time.monotonic() + 5
    while "status=499" not in (new := gateway.log.read_text()[seen:]):
        assert time.monotonic() < deadline, new
        time.sleep(0.05)
    assert "POST /v1/chat/completions model=- status=499" in new
    assert "Traceback" not in new and "unhandled error" not in new


def test_dropped_parameter_is_warned(gateway: Gateway, api_key: str) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [user("hi")], "seed": 7}
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200
    assert "seed" in response.headers["polyrelay-warnings"]


def test_fast_path_keeps_unknown_fields(gateway: Gateway, emulator: Emulator, api_key: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [user("hi")], "x_custom_field": {"keep": True}}
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200
    assert emulator.last()["body"]["x_custom_field"] == {"keep": True}


OPENAI_ONLY: list[Any] = [
    ({"tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, "tools[0].type"),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hear"},
                        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    ],
                }
            ]
        },
        "messages[0].content[1].type",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "read"},
                        {"type": "file", "file": {"file_id": "file-1"}},
                    ],
                }
            ]
        },
        "messages[0].content[1].file.file_id",
    ),
    ({"messages": [{"role": "system", "content": "Say hi."}]}, "messages"),
]


@pytest.mark.parametrize(("fields", "param"), OPENAI_ONLY)
def test_what_only_openai_takes_is_relayed_to_openai_and_refused_elsewhere(
    gateway: Gateway, emulator: Emulator, api_key: str, fields: dict[str, Any], param: str
) -> None:
    """Custom tools, audio input, file ids and a system prompt alone are OpenAI's own: the
    fast path relays them as sent; a translated request is a 400 naming the field."""
    headers = {"authorization": f"Bearer {api_key}"}
    url = gateway.url + "/v1/chat/completions"
    base = {"messages": [user("hi")], **fields}
    relayed = httpx.post(url, json={"model": MODELS_BY_PROVIDER["openai"], **base}, headers=headers)
    assert relayed.status_code == 200, relayed.text
    sent = emulator.last()["body"]
    assert {k: sent[k] for k in fields} == fields
    refused = httpx.post(
        url, json={"model": MODELS_BY_PROVIDER["anthropic"], **base}, headers=headers
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == param


def test_a_file_in_plain_base64_reaches_openai_as_the_data_url_it_asks_for(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    """The SDK documents `file_data` as base64; OpenAI refuses anything but a data URL."""
    pdf = base64.b64encode(b"%PDF-1.4 a").decode()
    client.chat.completions.create(
        model=MODELS_BY_PROVIDER["openai"],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "read"},
                    {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
                ],
            }
        ],
    )
    sent = emulator.last()["body"]["messages"][0]["content"][1]["file"]
    assert sent["file_data"] == f"data:application/pdf;base64,{pdf}"


def test_models_lists_configured_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert set(MODELS_BY_PROVIDER.values()) <= ids


def test_an_unknown_model_id_is_a_404_worded_as_openai_words_it(client: openai.OpenAI) -> None:
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.body["message"] == "The model 'no-such-model' does not exist"  # type: ignore[index]
    assert info.value.code == "model_not_found" and info.value.param == "model"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_client_disconnect_cancels_upstream(
    gateway: Gateway, emulator: Emulator, api_key: str, provider: str
) -> None:
    emulator.clear()
    body = {
        "model": MODELS_BY_PROVIDER[provider],
        "stream": True,
        "messages": [user("[[words 20000]] go")],
    }
    headers = {"authorization": f"Bearer {api_key}"}
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json=body, headers=headers
    ) as r:
        next(r.iter_bytes())
    for _ in range(100):
        entries = emulator.requests()
        if entries and entries[-1].get("cancelled"):
            break
        import time

        time.sleep(0.05)
    assert emulator.requests()[-1]["cancelled"] is True


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["alias-mini", "gpt-4o-mini"])
def test_fast_path_echoes_the_public_model_name(
    client: openai.OpenAI, emulator: Emulator, stream: bool, model: str
) -> None:
    """The emulator, as OpenAI, answers with the dated snapshot (gpt-4o-mini-2024-07-18):
    the client sees the name it asked for, JSON or streamed."""
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=model,
                messages=[user("[[words 40]] hi")],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert {c.model for c in chunks} == {model}
    else:
        result = client.chat.completions.create(model=model, messages=[user("hi")])
        assert result.model == model
    assert emulator.last()["body"]["model"] == "gpt-4o-mini"


def test_responses_fast_path_stream_echoes_the_public_model_name(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="alias-responses", input="hi", stream=True))
    models = {e.response.model for e in events if hasattr(e, "response")}
    assert models == {"alias-responses"}


def test_a_relayed_stream_leaves_the_clients_metadata_alone(client: openai.OpenAI) -> None:
    """Only the response's own `model` is the echoed name: a metadata entry that happens
    to hold the upstream's model name is the client's data."""
    metadata = {"model": MODELS_BY_PROVIDER["openai-responses"]}
    events = list(
        client.responses.create(model="alias-responses", input="hi", stream=True, metadata=metadata)
    )
    responses = [e.response for e in events if hasattr(e, "response")]
    assert {r.model for r in responses} == {"alias-responses"}
    assert all(r.metadata == metadata for r in responses)


def test_an_unrouted_url_is_a_json_error_in_the_clients_protocol(
    gateway: Gateway, client: openai.OpenAI
) -> None:
    """As the providers answer an unknown path or method: a JSON error the SDKs read, not
    a plain-text page."""
    with pytest.raises(openai.NotFoundError) as missing:
        client.get("/no/such/path", cast_to=object)
    assert missing.value.message.startswith("Error code: 404")
    assert missing.value.body == {
        "message": "Invalid URL (GET /v1/no/such/path)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    anthropic_style = httpx.get(
        gateway.url + "/v1/nope", headers={"anthropic-version": "2023-06-01"}
    )
    assert anthropic_style.status_code == 404
    assert anthropic_style.json()["type"] == "error"
    assert anthropic_style.json()["error"]["type"] == "not_found_error"
    wrong_method = httpx.put(gateway.url + "/v1/chat/completions")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert (
        wrong_method.json()["error"]["message"] == "Method not allowed (PUT /v1/chat/completions)"
    )


@pytest.mark.parametrize("provider", ["openai", "openai-responses"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_refusal_reaches_a_chat_client_as_a_refusal(
    client: openai.OpenAI, provider: str, stream: bool
) -> None:
    """OpenAI's refusal (Chat's `message.refusal`, a Responses `refusal` part) stays one,
    so `parse()` reports it instead of failing to read it as JSON."""
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER[provider],
        "messages": [user("[[refuse]] no")],
        "response_format": City,
    }
    if stream:
        with client.chat.completions.stream(**kwargs) as events:
            kinds = {event.type for event in events}
            message = events.get_final_completion().choices[0].message
        assert "refusal.done" in kinds and "content.done" not in kinds
    else:
        message = client.chat.completions.parse(**kwargs).choices[0].message
    assert message.refusal == "You said: no"
    assert message.parsed is None and not message.content


def test_a_refusal_in_the_history_reaches_each_upstream_in_its_own_terms(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """OpenAI's protocols keep the refusal; Anthropic and Gemini have none, so they get
    its text, and the client hears so."""
    messages = [
        user("help"),
        {"role": "assistant", "content": None, "refusal": "I can't."},
        user("why?"),
    ]
    headers = {"authorization": f"Bearer {api_key}"}

    def send(provider: str) -> tuple[Any, str]:
        body = {"model": MODELS_BY_PROVIDER[provider], "messages": messages}
        answer = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return emulator.last()["body"], answer.headers.get("polyrelay-warnings", "")

    responses, _ = send("openai-responses")
    assistant = next(i for i in responses["input"] if i.get("role") == "assistant")
    assert assistant["content"] == [{"type": "refusal", "refusal": "I can't."}]
    claude, warnings = send("anthropic")
    assert claude["messages"][1]["content"] == [{"type": "text", "text": "I can't."}]
    assert "refusal in the history was sent as plain text" in warnings


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_structured_output_parses_through_every_upstream(
    client: openai.OpenAI, provider: str, stream: bool
) -> None:
    """The schema reaches each upstream in its own terms (the emulator answers a JSON
    instance of the schema it received, as a model would), and the answer is parsed."""
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER[provider],
        "messages": [user("Paris")],
        "response_format": City,
    }
    if stream:
        with client.chat.completions.stream(**kwargs) as events:
            for _ in events:
                pass
            parsed = events.get_final_completion().choices[0].message.parsed
    else:
        parsed = client.chat.completions.parse(**kwargs).choices[0].message.parsed
    assert parsed == City(name="You said: Paris", population=0)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_output_parses_for_a_responses_client(
    client: openai.OpenAI, provider: str
) -> None:
    response = client.responses.parse(
        model=MODELS_BY_PROVIDER[provider], input="Paris", text_format=City
    )
    assert response.output_parsed == City(name="You said: Paris", population=0)
