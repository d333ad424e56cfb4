"""Request shapes real OpenAI Responses refuses with 400, which a translated request to an
`openai-responses` upstream must not take there (the emulator refuses each as OpenAI does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY, gateway_config
from tests.integration.test_chat_upstream_shapes import LOOSE_SCHEMA, posts

RESPONSES_MODEL = MODELS_BY_PROVIDER["openai-responses"]
GPT_51_RESPONSES = "gpt-51-responses"
"""gpt-5.1 on the `openai-responses` provider: it does not reason unless asked to."""
GPT_41_RESPONSES = "gpt-41-responses"
"""gpt-4.1 on the `openai-responses` provider: it does not reason at all."""
O_SERIES_RESPONSES = "o-series-responses"
"""o4-mini on the `openai-responses` provider: it has no reasoning effort `minimal`."""


@pytest.fixture(scope="module")
def o_series_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("o-series-responses")
    model = f"  {O_SERIES_RESPONSES}: {{provider: emu-responses, model: o4-mini}}\n"
    model += f"  {GPT_41_RESPONSES}: {{provider: emu-responses, model: gpt-4.1}}\n"
    model += f"  {GPT_51_RESPONSES}: {{provider: emu-responses, model: gpt-5.1}}\n"
    config = gateway_config(emulator.url, workdir / "polyrelay.db")
    config_file = workdir / "polyrelay.yaml"
    config_file.write_text(config.replace("models:\n", "models:\n" + model, 1))
    yield from serving_config(config_file)


@pytest.mark.parametrize(
    ("model", "effort"), [(O_SERIES_RESPONSES, "low"), (RESPONSES_MODEL, "minimal")]
)
def test_the_least_thinking_budget_is_an_effort_the_model_has(
    o_series_gateway: Gateway, emulator: Emulator, model: str, effort: str
) -> None:
    """Claude Code's least budget (1024) maps to `minimal`, which only the first gpt-5 models
    take: o4-mini (and o3, gpt-5.1 on, gpt-oss) answered it with 400."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=o_series_gateway.url, api_key=STATIC_KEY)
    message = client.messages.create(
        model=model,
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content
    (sent,) = posts(emulator)
    assert sent["reasoning"]["effort"] == effort


def test_the_emulator_refuses_minimal_effort_to_o4_mini(emulator: Emulator) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="does not support 'minimal'"):
        upstream.responses.create(model="o4-mini", input="hi", reasoning={"effort": "minimal"})


def test_the_emulator_refuses_a_strict_tool_with_an_optional_property(
    emulator: Emulator,
) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    tool: Any = {
        "type": "function",
        "name": "get_weather",
        "parameters": LOOSE_SCHEMA,
        "strict": True,
    }
    with pytest.raises(openai.BadRequestError, match="Missing 'units'"):
        upstream.responses.create(model=RESPONSES_MODEL, input="weather?", tools=[tool])


@pytest.mark.parametrize(
    ("model", "effort", "kept"),
    [
        (RESPONSES_MODEL, None, False),
        (O_SERIES_RESPONSES, None, False),
        (GPT_51_RESPONSES, "low", False),
        (GPT_51_RESPONSES, None, True),
    ],
)
def test_samplers_go_only_to_a_model_not_reasoning(
    o_series_gateway: Gateway, emulator: Emulator, model: str, effort: Any, kept: bool
) -> None:
    """A Chat client's temperature and top_p to a model that reasons: OpenAI answers them
    with 400 ("Unsupported parameter: 'temperature' is not supported with this model")."""
    emulator.clear()
    client = openai.OpenAI(base_url=o_series_gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)
    extra: Any = {"reasoning_effort": effort} if effort else {}
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.7,
        top_p=0.9,
        **extra,
    )
    assert raw.parse().choices[0].message.content
    (sent,) = posts(emulator)
    assert ("temperature" in sent, "top_p" in sent) == (kept, kept)
    warned = "temperature is not supported" in raw.headers.get("polyrelay-warnings", "")
    assert warned is not kept


def test_the_emulator_refuses_temperature_to_a_reasoning_model(emulator: Emulator) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="'temperature' is not supported"):
        upstream.responses.create(model=RESPONSES_MODEL, input="hi", temperature=0.7)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_claude_codes_thinking_is_not_sent_to_a_model_that_does_not_reason(
    o_series_gateway: Gateway, emulator: Emulator, stream: bool
) -> None:
    """Claude Code always asks for thinking (adaptive, with an effort); gpt-4.1 answered
    every such request with 400 ("'reasoning.effort' is not supported with this model")."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=o_series_gateway.url, api_key=STATIC_KEY)
    extra: Any = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}
    raw = client.messages.with_raw_response.create(
        model=GPT_41_RESPONSES,
        max_tokens=2000,
        messages=[{"role": "user", "content": "hi"}],
        stream=stream,
        extra_body=extra,
    )
    assert raw.status_code == 200
    assert "does not reason" in raw.headers.get("polyrelay-warnings", "")
    (sent,) = posts(emulator)
    assert "reasoning" not in sent and "include" not in sent


def test_the_emulator_refuses_reasoning_to_gpt_41(emulator: Emulator) -> None:
    upstream = openai.OpenAI(base_url=emulator.url + "/v1", api_key="up-openai", max_retries=0)
    with pytest.raises(openai.BadRequestError, match=r"'reasoning\.effort' is not supported"):
        upstream.responses.create(model="gpt-4.1", input="hi", reasoning={"effort": "low"})


def test_a_model_that_reasons_anyway_gives_its_reasoning_for_the_next_turn(
    gateway: Gateway, emulator: Emulator
) -> None:
    """A Chat client that asks for no reasoning effort still gets gpt-5's reasoning: without
    its encrypted content (store is false) that reasoning was dropped from every next turn."""
    emulator.clear()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)
    client.chat.completions.create(
        model=RESPONSES_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    (sent,) = posts(emulator)
    assert sent["include"] == ["reasoning.encrypted_content"]


def test_claude_codes_effort_max_is_high_for_a_model_without_it(
    gateway: Gateway, emulator: Emulator
) -> None:
    """Claude Code's /effort max (output_config effort max, or xhigh): gpt-5-mini has no
    effort above high and answered 400 ("Unsupported value: 'max' is not supported")."""
    emulator.clear()
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    extra: Any = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}
    raw = client.messages.with_raw_response.create(
        model=RESPONSES_MODEL,
        max_tokens=2000,
        messages=[{"role": "user", "content": "hi"}],
        extra_body=extra,
    )
    assert raw.parse().content
    assert "effort max is high" in raw.headers.get("polyrelay-warnings", "")
    (sent,) = posts(emulator)
    assert sent["reasoning"]["effort"] == "high"
