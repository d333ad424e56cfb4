"""OpenAI Responses through the real gateway to each upstream type, with the openai SDK:
create (streamed and not), the stream helper, stored responses and their chains, tools,
reasoning, errors and key isolation. Truncation needs small context windows: see
test_responses_truncation.py."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_item import ResponseItem

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import LIMITED_KEY, MODELS_BY_PROVIDER

PROVIDERS = list(MODELS_BY_PROVIDER)
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def streamed(client: openai.OpenAI, **kwargs: Any) -> list[Any]:
    return list(client.responses.create(stream=True, **kwargs))


def upstream_text(emulator: Emulator) -> str:
    return str(emulator.last()["body"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_returns_a_stored_response(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.responses.create(model=model, input="hello there")
    assert result.output_text == "You said: hello there"
    assert result.status == "completed" and result.model == model
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (2, 4)
    assert result.output[0].type == "message"
    stored = client.responses.retrieve(result.id)
    assert stored.id == result.id and stored.output_text == "You said: hello there"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_events_follow_the_grammar(client: openai.OpenAI, provider: str) -> None:
    events = streamed(client, model=MODELS_BY_PROVIDER[provider], input="one two three")
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    for kind in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert kind in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "You said: one two three"
    final = events[-1].response
    assert final.output_text == text and final.usage is not None
    assert client.responses.retrieve(final.id).output_text == text
    # Unix seconds on the wire, as OpenAI sends them and the unstreamed answer has them
    # (the SDK reads them as floats; a strictly typed client would refuse a fraction).
    stored = client.responses.with_raw_response.retrieve(final.id).http_response.json()
    assert isinstance(stored["completed_at"], int)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_validate_strictly_with_the_sdk(
    gateway: Gateway, api_key: str, provider: str
) -> None:
    """Validated, where the SDK only constructs leniently: every required field is there
    (usage's cache_write_tokens, for one), on every path, plain and streamed."""
    url, headers = f"{gateway.url}/v1/responses", {"authorization": f"Bearer {api_key}"}
    # Reasoning on: Claude thinks only when asked, and the reasoning item is validated too.
    body = {
        "model": MODELS_BY_PROVIDER[provider],
        "input": "[[think 3]] strictly",
        "reasoning": {"effort": "low", "summary": "auto"},
    }
    Response.model_validate(httpx.post(url, json=body, headers=headers).json())
    with httpx.stream("POST", url, json={**body, "stream": True}, headers=headers) as reply:
        lines = [line[6:] for line in reply.iter_lines() if line.startswith("data: ")]
    events = [pydantic.TypeAdapter(ResponseStreamEvent).validate_json(line) for line in lines]
    assert events[-1].type == "response.completed"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_helper_final_response(client: openai.OpenAI, provider: str) -> None:
    with client.responses.stream(model=MODELS_BY_PROVIDER[provider], input="helper test") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert final.output_text == "You said: helper test" == "".join(deltas)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retrieve_input_items_and_delete(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    result = client.responses.create(
        model=model,
        input=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        ],
    )
    items = client.responses.input_items.list(result.id).data
    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "user"),
        ("message", "developer"),
    ]
    assert all(i.id for i in items)
    ascending = client.responses.input_items.list(result.id, order="asc", limit=1)
    assert [i.id for i in ascending.data] == [items[1].id] and ascending.has_more
    after = client.responses.input_items.list(result.id, order="asc", after=items[1].id)
    assert [i.id for i in after.data] == [items[0].id] and not after.has_more
    client.responses.delete(result.id)  # the SDK discards the body: see the raw check below
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(result.id)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_input_items_validate_as_the_sdks_items(
    gateway: Gateway, client: openai.OpenAI, api_key: str, provider: str
) -> None:
    """The items the client sent are listed with what the SDK's item types require:
    a `status` on calls, outputs and messages, `annotations` on assistant text."""
    sent: Any = [
        {"role": "user", "content": "call f"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"role": "assistant", "content": "it is sunny"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "anything else?"}]},
        {"role": "user", "content": "no"},
    ]
    model = MODELS_BY_PROVIDER[provider]
    result = client.responses.create(model=model, input=sent, tools=[WEATHER])
    listed = httpx.get(
        f"{gateway.url}/v1/responses/{result.id}/input_items",
        params={"order": "asc"},
        headers={"authorization": f"Bearer {api_key}"},
    ).json()["data"]
    items = [pydantic.TypeAdapter(ResponseItem).validate_python(item) for item in listed]
    assert [type(i).__name__ for i in items] == [
        "ResponseInputMessageItem",
        "ResponseFunctionToolCallItem",
        "ResponseFunctionToolCallOutputItem",
        "ResponseOutputMessage",
        "ResponseOutputMessage",
        "ResponseInputMessageItem",
    ]
    assert {item["status"] for item in listed} == {"completed"}
    assert client.responses.create(model=model, input="next", previous_response_id=result.id)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_input_tokens_are_counted_as_the_request_would_send_them(
    client: openai.OpenAI, provider: str
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    text = "x" * 400  # 100 tokens at 4 characters each
    counted = client.responses.input_tokens.with_raw_response.count(
        model=model, input=text, instructions="i" * 40
    )
    assert counted.headers["polyrelay-warnings"].startswith("input_tokens is an estimate")
    parsed = counted.parse()
    assert (parsed.object, parsed.input_tokens) == ("response.input_tokens", 110)
    first = client.responses.create(model=model, input=text)
    chained = client.responses.input_tokens.count(
        model=model, input="y" * 40, previous_response_id=first.id
    )
    assert chained.input_tokens == 100 + math.ceil(len(first.output_text) / 4) + 10


def test_input_tokens_errors_are_openais(gateway: Gateway, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as missing:
        client.responses.input_tokens.count(input="no model")
    assert missing.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.input_tokens.count(model="no-such-model", input="x")
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.input_tokens.count(
            model="gpt-4o-mini", input="x", previous_response_id="resp_nope"
        )
    assert unknown.value.code == "previous_response_not_found"
    stranger = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.responses.input_tokens.count(model="gpt-4o-mini", input="x")
    limited = openai.OpenAI(base_url=gateway.url + "/v1", api_key=LIMITED_KEY, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        limited.responses.input_tokens.count(model="gpt-5-mini", input="x")


def test_delete_body_and_unknown_ids(gateway: Gateway, client: openai.OpenAI, api_key: str) -> None:
    result = client.responses.create(model="gpt-4o-mini", input="to delete")
    headers = {"authorization": f"Bearer {api_key}"}
    answer = httpx.delete(f"{gateway.url}/v1/responses/{result.id}", headers=headers)
    assert answer.json() == {"id": result.id, "object": "response", "deleted": True}
    for method, path in (
        ("DELETE", result.id),
        ("GET", result.id),
        ("GET", f"{result.id}/input_items"),
        ("GET", "resp_unknown"),
    ):
        missing = httpx.request(method, f"{gateway.url}/v1/responses/{path}", headers=headers)
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "invalid_request_error"
        assert result.id in missing.json()["error"]["message"] or "unknown" in path


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    result = client.responses.create(model="gpt-4o-mini", input="forget me", store=False)
    assert result.model_dump()["store"] is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(result.id)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-4o-mini", input="x", previous_response_id=result.id)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert info.value.body["code"] == "previous_response_not_found"  # type: ignore[index]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_previous_response_id_chains_turns(
    client: openai.OpenAI, emulator: Emulator, provider: str, stream: bool
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    first = client.responses.create(
        model=model, input="first question", instructions="obey rule XYZZY"
    )
    if stream:
        events = streamed(
            client, model=model, input="second question", previous_response_id=first.id
        )
        second = events[-1].response
    else:
        second = client.responses.create(
            model=model, input="second question", previous_response_id=first.id
        )
    assert second.output_text == "You said: second question"
    assert client.responses.retrieve(second.id).previous_response_id == first.id
    # The relayed stream (openai-responses) too: the upstream echoes what it was sent.
    assert second.previous_response_id == first.id
    assert second.store is True and first.store is True
    if stream:
        lifecycle = [e.response for e in events if hasattr(e, "response")]
        assert {(r.previous_response_id, r.store) for r in lifecycle} == {(first.id, True)}
    sent = upstream_text(emulator)
    assert "first question" in sent and "You said: first question" in sent
    assert "XYZZY" not in sent  # instructions are not inherited
    assert "previous_response_id': '" not in sent
    third = client.responses.create(model=model, input="third", previous_response_id=second.id)
    assert third.output_text == "You said: third"
    assert "first question" in upstream_text(emulator)
    # input_items lists only the turn's own input.
    listed = client.responses.input_items.list(third.id).data
    assert [i.model_dump()["content"][0]["text"] for i in listed] == ["third"]


def test_chain_across_upstream_types(client: openai.OpenAI, emulator: Emulator) -> None:
    one = client.responses.create(model=MODELS_BY_PROVIDER["gemini"], input="alpha [[think hmm]]")
    two = client.responses.create(
        model=MODELS_BY_PROVIDER["anthropic"],
        input="beta",
        previous_response_id=one.id,
        reasoning={"effort": "low", "summary": "auto"},
    )
    assert two.output_text == "You said: beta"
    assert "alpha" in upstream_text(emulator)
    events = streamed(
        client,
        model=MODELS_BY_PROVIDER["openai-responses"],
        input="gamma",
        previous_response_id=two.id,
    )
    final = events[-1].response
    assert final.output_text == "You said: gamma"
    assert client.responses.retrieve(final.id).previous_response_id == two.id
    body = emulator.last()["body"]
    assert "previous_response_id" not in body
    texts = str(body["input"])
    assert "alpha" in texts and "You said: beta" in texts and "gamma" in texts
    # Gemini's reasoning travels only as a gateway blob, which OpenAI must not receive.
    assert "gw1." not in texts
    # The fast-path turn is stored too, and chains on.
    four = client.responses.create(
        model=MODELS_BY_PROVIDER["openai"], input="delta", previous_response_id=final.id
    )
    assert four.output_text == "You said: delta"
    assert "You said: gamma" in upstream_text(emulator)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_function_tool_round_trip(client: openai.OpenAI, provider: str, stream: bool) -> None:
    model = MODELS_BY_PROVIDER[provider]
    ask = 'weather? [[tool get_weather {"city": "Paris"}]]'
    if stream:
        events = streamed(client, model=model, input=ask, tools=[WEATHER])
        first = events[-1].response
        kinds = [e.type for e in events]
        assert "response.function_call_arguments.delta" in kinds
        assert "response.function_call_arguments.done" in kinds
    else:
        first = client.responses.create(model=model, input=ask, tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather" and call.arguments.replace(" ", "") == '{"city":"Paris"}'
    answer = client.responses.create(
        model=model,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert answer.output_text == "Tool get_weather returned: sunny"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stateless_tool_round_trip(client: openai.OpenAI, provider: str) -> None:
    model = MODELS_BY_PROVIDER[provider]
    ask: Any = {"role": "user", "content": 'go [[tool get_weather {"city": "Oslo"}]]'}
    first = client.responses.create(model=model, input=[ask], tools=[WEATHER], store=False)
    call = next(item for item in first.output if item.type == "function_call")
    history: list[Any] = [ask, *[item.model_dump(exclude_none=True) for item in first.output]]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "rain"})
    answer = client.responses.create(model=model, input=history, tools=[WEATHER], store=False)
    assert answer.output_text == "Tool get_weather returned: rain"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_tool_output_parts_reach_a_one_string_upstream_one_per_line(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    parts = [{"type": "input_text", "text": "first line."}, {"type": "input_text", "text": "Next."}]
    sent: Any = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": parts},
    ]
    client.responses.create(model=MODELS_BY_PROVIDER[provider], input=sent, tools=[WEATHER])
    assert json.dumps("first line.\nNext.") in json.dumps(emulator.last()["body"])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_summary(client: openai.OpenAI, provider: str, stream: bool) -> None:
    model = MODELS_BY_PROVIDER[provider]
    kwargs: Any = {
        "model": model,
        "input": "[[think weighing options]] decide",
        "reasoning": {"effort": "low", "summary": "auto"},
    }
    if stream:
        events = streamed(client, **kwargs)
        result = events[-1].response
        deltas = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
        assert "".join(deltas).split() == ["weighing", "options"]
    else:
        result = client.responses.create(**kwargs)
    reasoning = [item for item in result.output if item.type == "reasoning"]
    # Gemini adds a summary-less item carrying its thought signature (a gw1. blob).
    summaries = [s.text for item in reasoning for s in item.summary]
    assert " ".join(summaries).split() == ["weighing", "options"]
    assert reasoning[0].encrypted_content
    assert result.output_text == "You said: decide"
    follow = client.responses.create(model=model, input="and now", previous_response_id=result.id)
    assert follow.output_text == "You said: and now"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_max_output_tokens_is_incomplete(
    client: openai.OpenAI, provider: str, stream: bool
) -> None:
    kwargs: Any = {
        "model": MODELS_BY_PROVIDER[provider],
        "input": "[[words 40]]",
        "max_output_tokens": 16,
    }
    if stream:
        events = streamed(client, **kwargs)
        assert events[-1].type == "response.incomplete"
        result = events[-1].response
        done = [e.item for e in events if e.type == "response.output_item.done"]
        assert [item.status for item in done] == ["incomplete"]  # type: ignore[union-attr]
    else:
        result = client.responses.create(**kwargs)
    assert result.status == "incomplete"
    assert [(item.type, item.status) for item in result.output] == [  # type: ignore[union-attr]
        ("message", "incomplete")
    ]
    assert result.incomplete_details is not None
    assert result.incomplete_details.reason == "max_output_tokens"
    assert len(result.output_text.split()) == 16
    # Incomplete responses are stored and can be continued.
    assert client.responses.retrieve(result.id).status == "incomplete"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_upstream_error_mid_request(client: openai.OpenAI, provider: str) -> None:
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model=MODELS_BY_PROVIDER[provider], input="[[error 429]]")
    events = list(
        client.responses.create(
            model=MODELS_BY_PROVIDER[provider], input="x [[cut 2]]", stream=True
        )
    )
    assert events[-1].type in ("response.failed", "error")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_cut_mid_way_fails_the_response_it_started(
    client: openai.OpenAI, provider: str
) -> None:
    """One lifecycle, ended by the failure: the SDK's stream helper raises on a second
    response id, and the failed Response carries what was streamed."""
    model = MODELS_BY_PROVIDER[provider]
    with client.responses.stream(model=model, input="[[words 20]] [[cut 5]]") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds.count("response.created") == kinds.count("response.in_progress") == 1
    assert kinds[-1] == "response.failed" and "response.output_text.delta" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert {e.response.id for e in events if hasattr(e, "response")} == {events[0].response.id}
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert failed.model == model
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and failed.output_text == text
    assert [item.id for item in failed.output] == [
        e.item.id for e in events if e.type == "response.output_item.added"
    ]
    if provider == "anthropic":  # its input tokens come first, in message_start
        assert failed.usage is not None and failed.usage.input_tokens > 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": 5}, "input"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": "x", "truncation": "sometimes"}, "truncation"),
        ({"input": "x", "previous_response_id": "resp_nope"}, "previous_response_id"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    gateway: Gateway, api_key: str, body: dict[str, Any], param: str
) -> None:
    answer = httpx.post(
        f"{gateway.url}/v1/responses",
        json={"model": "gpt-4o-mini", **body},
        headers={"authorization": f"Bearer {api_key}"},
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"]


def test_unknown_model_and_missing_key(gateway: Gateway, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="no-such-model", input="x")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    answer = httpx.post(f"{gateway.url}/v1/responses", json={"model": "gpt-4o-mini", "input": "x"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    for path in ("resp_x", "resp_x/input_items"):
        assert httpx.get(f"{gateway.url}/v1/responses/{path}").status_code == 401


def test_other_keys_cannot_read_or_chain(gateway: Gateway, client: openai.OpenAI) -> None:
    mine = client.responses.create(model="gpt-4o-mini", input="private words")
    other = openai.OpenAI(base_url=gateway.url + "/v1", api_key=LIMITED_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(mine.id)
    with pytest.raises(openai.BadRequestError) as info:
        other.responses.create(model="gpt-4o-mini", input="x", previous_response_id=mine.id)
    assert info.value.body["code"] == "previous_response_not_found"  # type: ignore[index]
    assert client.responses.retrieve(mine.id).output_text == "You said: private words"


def test_codex_style_request_is_accepted(client: openai.OpenAI, emulator: Emulator) -> None:
    tools: Any = [
        WEATHER,
        {
            "type": "namespace",
            "name": "agents",
            "description": "d",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn",
                    "parameters": {"type": "object", "properties": {}},
                }
            ],
        },
        {"type": "web_search"},
    ]
    events = streamed(
        client,
        model="claude-sonnet-4-5",
        input=[
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "sys"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "go [[tool agents__spawn {}]]"}],
            },
        ],
        tools=tools,
        store=False,
        include=["reasoning.encrypted_content"],
        reasoning={"summary": "auto"},
        prompt_cache_key="abc",
        parallel_tool_calls=True,
        extra_body={"client_metadata": {"x": "y"}},
    )
    call = next(i for i in events[-1].response.output if i.type == "function_call")
    assert call.name == "spawn" and getattr(call, "namespace", None) == "agents"


def test_fast_path_keeps_state_in_the_gateway_only(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    first = client.responses.create(
        model="gpt-5-mini", input="keep this", reasoning={"effort": "low", "summary": "auto"}
    )
    sent = emulator.last()["body"]
    assert sent["store"] is False
    assert "reasoning.encrypted_content" in sent["include"]
    assert client.responses.retrieve(first.id).id == first.id


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_no_input_at_all_is_a_400_about_input(client: openai.OpenAI, provider: str) -> None:
    # Translated, an empty conversation once reached the upstream, whose refusal named
    # its own field (`messages`, `contents`).
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODELS_BY_PROVIDER[provider], input=[])
    assert info.value.param == "input" and "nothing to answer" in info.value.message


@pytest.mark.parametrize("provider", ["openai", "openai-responses"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_refusal_reaches_a_responses_client_as_a_refusal_part(
    client: openai.OpenAI, provider: str, stream: bool
) -> None:
    """A Chat upstream's `message.refusal` is a `refusal` content part, streamed as
    `response.refusal.delta`/`done`, as OpenAI's own Responses answer it."""
    kwargs: Any = {"model": MODELS_BY_PROVIDER[provider], "input": "[[refuse]] no"}
    if stream:
        events = streamed(client, **kwargs)
        kinds = [e.type for e in events]
        assert "response.refusal.done" in kinds and "response.output_text.delta" not in kinds
        result = events[-1].response
    else:
        result = client.responses.create(**kwargs)
    [message] = [item for item in result.output if item.type == "message"]
    [part] = message.content
    assert part.type == "refusal" and part.refusal == "You said: no"
    assert result.output_text == ""
