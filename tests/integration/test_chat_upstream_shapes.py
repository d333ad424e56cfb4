"""Request shapes real OpenAI Chat Completions refuses with 400, which a translated request
to an `openai` upstream must not take there (the emulator refuses each as OpenAI does)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY, gateway_config

CHAT_MODEL = MODELS_BY_PROVIDER["openai"]
TAGS = {"team": "relay", "ticket": "42"}
REASONING_CHAT = "reasoning-chat"
"""gpt-5-mini on the `openai` (Chat) provider, whose base URL is not api.openai.com: as
served by Azure OpenAI or a proxy in front of OpenAI."""


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


@pytest.fixture(scope="module")
def reasoning_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("reasoning-chat")
    model = f"  {REASONING_CHAT}: {{provider: emu-openai, model: gpt-5-mini}}\n"
    model += f"  {O_SERIES_CHAT}: {{provider: emu-openai, model: o4-mini}}\n"
    model += f"  {NO_REASONING_CHAT}: {{provider: emu-openai, model: gpt-5.1}}\n"
    config = gateway_config(emulator.url, workdir / "polyrelay.db")
    config_file = workdir / "polyrelay.yaml"
    config_file.write_text(config.replace("models:\n", "models:\n" + model, 1))
    yield from serving_config(config_file)


NO_REASONING_CHAT = "gpt51-chat"
"""gpt-5.1 on the `openai` (Chat) provider: it reasons only when asked (effort `none` is
its default), and then takes no temperature."""
O_SERIES_CHAT = "o-series-chat"
"""o4-mini on the `openai` (Chat) provider: it has no reasoning effort `minimal`."""


def posts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r["body"] for r in emulator.requests() if r["method"] == "POST"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_responses_metadata_is_not_sent_to_a_chat_upstream(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    """OpenAI takes Chat `metadata` only with `store: true`; a Responses client's metadata
    (its response keeps it, stored by the gateway) once made every such request a 400."""
    emulator.clear()
    raw = client.responses.with_raw_response.create(
        model=CHAT_MODEL, input="hi", metadata=TAGS, stream=stream
    )
    assert raw.status_code == 200
    if not stream:
        assert raw.parse().metadata == TAGS
    assert "metadata is not supported" in raw.headers.get("polyrelay-warnings", "")
    (sent,) = posts(emulator)
    assert "metadata" not in sent


def test_the_emulator_refuses_chat_metadata_without_store(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="only allowed when 'store' is enabled"):
        client.chat.completions.create(model=CHAT_MODEL, messages=messages, metadata=TAGS)
    stored = client.chat.completions.create(
        model=CHAT_MODEL, messages=messages, metadata=TAGS, store=True
    )
    assert stored.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_reasoning_model_gets_max_completion_tokens_wherever_it_is_served(
    reasoning_gateway: Gateway, emulator: Emulator, stream: bool
) -> None:
    """OpenAI's reasoning models refuse `max_tokens`; the cap went out under that name to
    every host but api.openai.com, so Claude Code's every request (max_tokens 32000) to a
    gpt-5 deployment on Azure OpenAI or behind a proxy was a 400."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=reasoning_gateway.url, api_key=STATIC_KEY)
    message = client.messages.create(
        model=REASONING_CHAT,
        max_tokens=300,
        messages=[{"role": "user", "content": "hi"}],
        stream=stream,
    )
    if stream:
        assert [e.type for e in message][-1] == "message_stop"  # type: ignore[union-attr]
    else:
        assert message.content  # type: ignore[union-attr]
    (sent,) = posts(emulator)
    assert sent["max_completion_tokens"] == 300
    assert "max_tokens" not in sent


def test_the_emulator_refuses_max_tokens_to_a_reasoning_model(emulator: Emulator) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="Use 'max_completion_tokens' instead"):
        upstream.chat.completions.create(model="gpt-5-mini", messages=messages, max_tokens=50)
    capped = upstream.chat.completions.create(
        model="gpt-5-mini", messages=messages, max_completion_tokens=50
    )
    assert capped.choices[0].message.content


LONG_ID = "toolu_" + "a1b2c3d4" * 6  # 54 characters: a client's own, or another provider's


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_tool_call_id_past_40_characters_still_pairs_with_its_result(
    gateway: Gateway, emulator: Emulator, stream: bool
) -> None:
    """OpenAI refuses a `tool_calls[].id` past 40 characters ('string too long'); an
    Anthropic client's history holding one was relayed as it was, a 400 on every turn."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    call: Any = {"type": "tool_use", "id": LONG_ID, "name": "get_weather", "input": {}}
    result: Any = {"type": "tool_result", "tool_use_id": LONG_ID, "content": "sunny"}
    message = client.messages.create(
        model=CHAT_MODEL,
        max_tokens=200,
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [result]},
        ],
        stream=stream,
    )
    if stream:
        assert [e.type for e in message][-1] == "message_stop"  # type: ignore[union-attr]
    else:
        assert message.content  # type: ignore[union-attr]
    (sent,) = posts(emulator)
    assistant, tool = sent["messages"][1], sent["messages"][2]
    wire_id = assistant["tool_calls"][0]["id"]
    assert len(wire_id) <= 40 and tool["tool_call_id"] == wire_id


def test_the_emulator_refuses_a_tool_call_id_past_40_characters(client: openai.OpenAI) -> None:
    fn: Any = {"name": "get_weather", "arguments": "{}"}
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [{"type": "function", "id": LONG_ID, "function": fn}]},
        {"role": "tool", "tool_call_id": LONG_ID, "content": "sunny"},
    ]
    with pytest.raises(openai.BadRequestError, match=r"tool_calls\[0\]\.id': string too long"):
        client.chat.completions.create(model=CHAT_MODEL, messages=messages)


LOOSE_SCHEMA: Any = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "units": {"type": "string"}},
    "required": ["city"],  # units is optional, which OpenAI's strict mode refuses
    "additionalProperties": False,
}


# Whether the upstream got the tool without strict: Chat leaves it out, Responses says false.
UNSTRICT: dict[str, Callable[[dict[str, Any]], bool]] = {
    CHAT_MODEL: lambda sent: "strict" not in sent["tools"][0]["function"],
    MODELS_BY_PROVIDER["openai-responses"]: lambda sent: sent["tools"][0]["strict"] is False,
}


@pytest.mark.parametrize("model", list(UNSTRICT))
def test_a_strict_tool_openai_would_refuse_goes_without_strict(
    gateway: Gateway, emulator: Emulator, model: str
) -> None:
    """An Anthropic strict tool may have optional properties; OpenAI's strict mode answers
    that schema with 400 ('required' ... including every key in properties), on Chat
    Completions and Responses alike."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    tool: Any = {"name": "get_weather", "input_schema": LOOSE_SCHEMA, "strict": True}
    raw = client.messages.with_raw_response.create(
        model=model,
        max_tokens=200,
        tools=[tool],
        messages=[{"role": "user", "content": "weather?"}],
    )
    assert raw.parse().content
    assert "'get_weather' was sent without strict" in raw.headers.get("polyrelay-warnings", "")
    (sent,) = posts(emulator)
    assert UNSTRICT[model](sent)


def test_the_emulator_refuses_a_strict_tool_with_an_optional_property(
    client: openai.OpenAI,
) -> None:
    fn: Any = {"name": "get_weather", "parameters": LOOSE_SCHEMA, "strict": True}
    messages: Any = [{"role": "user", "content": "weather?"}]
    with pytest.raises(openai.BadRequestError, match="Missing 'units'"):
        client.chat.completions.create(
            model=CHAT_MODEL, messages=messages, tools=[{"type": "function", "function": fn}]
        )


@pytest.mark.parametrize(("model", "effort"), [(O_SERIES_CHAT, "low"), (REASONING_CHAT, "minimal")])
def test_the_least_thinking_budget_is_an_effort_the_model_has(
    reasoning_gateway: Gateway, emulator: Emulator, model: str, effort: str
) -> None:
    """Anthropic's least budget (1024) maps to `minimal`, which only the first gpt-5 models
    take: o4-mini (and gpt-5.1 on, gpt-oss) answered it with 400."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=reasoning_gateway.url, api_key=STATIC_KEY)
    message = client.messages.create(
        model=model,
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content
    (sent,) = posts(emulator)
    assert sent["reasoning_effort"] == effort


def test_the_emulator_refuses_minimal_effort_to_o4_mini(emulator: Emulator) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="does not support 'minimal'"):
        upstream.chat.completions.create(
            model="o4-mini", messages=messages, reasoning_effort="minimal"
        )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_samplers_are_dropped_for_a_model_that_reasons(
    reasoning_gateway: Gateway, emulator: Emulator, stream: bool
) -> None:
    """OpenAI's reasoning models refuse temperature and top_p while they reason ("Unsupported
    parameter: 'temperature' is not supported with this model"): a Claude client's
    temperature made every request to gpt-5 on a Chat upstream a 400."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=reasoning_gateway.url, api_key=STATIC_KEY)
    raw = client.messages.with_raw_response.create(
        model=REASONING_CHAT,
        max_tokens=300,
        messages=[{"role": "user", "content": "hi"}],
        stream=stream,
        extra_body={"temperature": 0.5, "top_p": 0.9},  # this SDK's create() has no temperature
    )
    assert raw.status_code == 200
    assert (
        "temperature is not supported by the reasoning model" in raw.headers["polyrelay-warnings"]
    )
    (sent,) = posts(emulator)
    assert "temperature" not in sent and "top_p" not in sent


def test_samplers_stay_for_gpt_5_1_without_reasoning_and_go_with_it(
    reasoning_gateway: Gateway, emulator: Emulator
) -> None:
    emulator.clear()
    client = anthropic.Anthropic(base_url=reasoning_gateway.url, api_key=STATIC_KEY)
    for thinking in ({"type": "disabled"}, {"type": "enabled", "budget_tokens": 2048}):
        client.messages.create(
            model=NO_REASONING_CHAT,
            max_tokens=4000,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"temperature": 0.5, "thinking": thinking},
        )
    plain, reasoned = posts(emulator)
    assert plain["temperature"] == 0.5
    assert "temperature" not in reasoned and reasoned["reasoning_effort"] == "low"


def test_the_emulator_refuses_samplers_to_a_model_that_reasons(emulator: Emulator) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="'temperature' is not supported"):
        upstream.chat.completions.create(model="gpt-5-mini", messages=messages, temperature=0.5)
    kept = upstream.chat.completions.create(model="gpt-5.1", messages=messages, temperature=0.5)
    assert kept.choices[0].message.content
