"""A translated request's max_tokens above the upstream model's real output limit is
lowered to it, warned (Claude Code's 32000 to gpt-4o, a Chat client's 200000 to Claude, a
thinking budget on top of the answer to Opus 4); the fast path relays the client's own
value and the provider's 400 in the client's shape. The emulator refuses a value past a
real model's limit as each provider does (emulator/output_limits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import STATIC_KEY, gateway_config

MODELS = {
    "gpt-4o": "{provider: emu-openai}",
    "opus-4-1": "{provider: emu-anthropic, model: claude-opus-4-1}",
    "small-sonnet": "{provider: emu-anthropic, model: claude-sonnet-4-5, max_output_tokens: 2000}",
    "gemini-2.0-flash": "{provider: emu-gemini}",
}
SONNET = "claude-sonnet-4-5"  # the test config's, max_output_tokens 64000
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def limits_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("output-limits")
    models = "".join(f"  {name}: {model}\n" for name, model in MODELS.items())
    config = gateway_config(emulator.url, workdir / "polyrelay.db")
    config_file = workdir / "polyrelay.yaml"
    config_file.write_text(config.replace("models:\n", "models:\n" + models, 1))
    yield from serving_config(config_file)


@pytest.fixture
def chat(limits_gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=limits_gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


def sent(emulator: Emulator) -> Any:
    return emulator.last()["body"]


def test_claude_code_s_max_tokens_to_gpt_4o_is_lowered(
    limits_gateway: Gateway, emulator: Emulator
) -> None:
    claude = anthropic.Anthropic(base_url=limits_gateway.url, api_key=STATIC_KEY, max_retries=0)
    # Streamed, as Claude Code asks (the SDK refuses so large a max_tokens unstreamed).
    raw = claude.messages.with_raw_response.create(
        model="gpt-4o", max_tokens=32000, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert raw.http_response.status_code == 200
    events = [event.type for event in raw.parse()]
    assert "content_block_delta" in events and events[-1] == "message_stop"
    assert sent(emulator)["max_tokens"] == 16384
    warnings = raw.headers["polyrelay-warnings"]
    assert "max_tokens 32000 is above the 16384 output tokens 'gpt-4o' takes" in warnings


def test_the_fast_path_relays_the_value_and_the_provider_s_refusal(
    chat: openai.OpenAI, emulator: Emulator
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        chat.chat.completions.create(model="gpt-4o", max_tokens=32000, messages=HI)
    assert sent(emulator)["max_tokens"] == 32000
    error: Any = refused.value.body
    assert error["message"] == (
        "max_tokens is too large: 32000. This model supports at most 16384 completion"
        " tokens, whereas you provided 32000."
    )
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "max_tokens",
        "invalid_value",
    )


@pytest.mark.parametrize(("model", "limit"), [(SONNET, 64000), ("small-sonnet", 2000)])
def test_a_chat_client_s_max_tokens_to_claude_is_lowered(
    chat: openai.OpenAI, emulator: Emulator, model: str, limit: int
) -> None:
    """The table's limit for Claude Sonnet 4.5, or a lower configured one, which wins."""
    raw = chat.chat.completions.with_raw_response.create(
        model=model,
        max_tokens=200000,
        messages=HI,
    )
    assert raw.http_response.status_code == 200
    assert sent(emulator)["max_tokens"] == limit
    assert (
        f"max_tokens 200000 is above the {limit} output tokens" in raw.headers["polyrelay-warnings"]
    )


def test_a_responses_client_s_max_output_tokens_to_claude_is_lowered(
    chat: openai.OpenAI, emulator: Emulator
) -> None:
    raw = chat.responses.with_raw_response.create(
        model=SONNET, input="hi", max_output_tokens=200000, store=False
    )
    assert raw.http_response.status_code == 200
    assert raw.parse().status == "completed"
    assert sent(emulator)["max_tokens"] == 64000
    assert "max_tokens 200000 is above the 64000" in raw.headers["polyrelay-warnings"]


def test_a_thinking_budget_beside_the_answer_fits_opus_4_s_limit(
    chat: openai.OpenAI, emulator: Emulator
) -> None:
    """high's 24576 of thinking on top of 16000 to answer in was 40576, past Opus 4.1's
    32000: the answer's room gives way."""
    raw = chat.chat.completions.with_raw_response.create(
        model="opus-4-1",
        max_tokens=16000,
        reasoning_effort="high",
        messages=HI,
    )
    assert raw.http_response.status_code == 200
    upstream = sent(emulator)
    assert upstream["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert upstream["max_tokens"] == 32000
    assert "sent a budget of 24576 and 7424 to answer in" in raw.headers["polyrelay-warnings"]


def test_thinking_that_cannot_fit_the_configured_limit_is_turned_off_and_said(
    chat: openai.OpenAI, emulator: Emulator
) -> None:
    raw = chat.chat.completions.with_raw_response.create(
        model="small-sonnet",
        reasoning_effort="low",
        messages=HI,
    )
    assert raw.http_response.status_code == 200
    upstream = sent(emulator)
    assert "thinking" not in upstream and upstream["max_tokens"] == 2000
    assert "thinking was turned off" in raw.headers["polyrelay-warnings"]


def test_a_chat_client_s_max_tokens_to_gemini_2_0_is_lowered(
    chat: openai.OpenAI, emulator: Emulator
) -> None:
    raw = chat.chat.completions.with_raw_response.create(
        model="gemini-2.0-flash",
        max_tokens=32000,
        messages=HI,
    )
    assert raw.http_response.status_code == 200
    assert sent(emulator)["generationConfig"]["maxOutputTokens"] == 8192
