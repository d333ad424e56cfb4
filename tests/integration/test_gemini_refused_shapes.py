"""Requests real Gemini refuses with a 400 do not leave the gateway in that shape: a
thinkingBudget outside the model's range (2.5 Pro cannot turn thinking off, Flash thinks
at most 24576 tokens), a thinkingLevel the model lacks (Gemini 3 Pro: no MINIMAL, no
MEDIUM), a schema node holding `$ref` beside fields other than description and default,
a penalty to a model past 2.0, and an empty text part. The emulator refuses them as
Gemini does (emulator/gemini_checks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import STATIC_KEY, gateway_config

HEADERS = {"authorization": f"Bearer {STATIC_KEY}", "anthropic-version": "2023-06-01"}
# A pydantic-style schema: the $ref node also carries the model's title.
SCHEMA: Any = {
    "type": "object",
    "properties": {"unit": {"$ref": "#/$defs/Unit", "title": "Unit", "description": "which"}},
    "required": ["unit"],
    "$defs": {"Unit": {"type": "string", "enum": ["celsius", "kelvin"]}},
}


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The test gateway plus gemini-2.5-pro on the emulator."""
    workdir = tmp_path_factory.mktemp("gemini-refused")
    config = workdir / "polyrelay.yaml"
    text = gateway_config(emulator.url, workdir / "polyrelay.db")
    pro = (
        "models:\n  gemini-2.5-pro: {provider: emu-gemini}\n"
        "  gemini-3-pro-preview: {provider: emu-gemini}\n"
    )
    config.write_text(text.replace("models:\n", pro, 1))
    yield from serving_config(config)


def post(gateway: Gateway, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers=HEADERS, timeout=30)


def sent_thinking(emulator: Emulator) -> Any:
    return emulator.last()["body"]["generationConfig"]["thinkingConfig"]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_off_on_2_5_pro_sends_its_smallest_budget(
    gateway: Gateway, emulator: Emulator, stream: bool
) -> None:
    body = {
        "model": "gemini-2.5-pro",
        "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": "none",
        "stream": stream,
    }
    response = post(gateway, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert sent_thinking(emulator) == {"thinkingBudget": 128}
    assert "cannot turn thinking off" in response.headers["polyrelay-warnings"]


@pytest.mark.parametrize(
    ("effort", "level"), [("none", "LOW"), ("minimal", "LOW"), ("medium", "HIGH")]
)
def test_gemini_3_pro_gets_a_thinking_level_it_has(
    gateway: Gateway, emulator: Emulator, effort: str, level: str
) -> None:
    body = {
        "model": "gemini-3-pro-preview",
        "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": effort,
    }
    response = post(gateway, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert sent_thinking(emulator)["thinkingLevel"] == level


def test_a_budget_past_flash_s_range_is_sent_as_its_largest(
    gateway: Gateway, emulator: Emulator
) -> None:
    body = {
        "model": "gemini-2.5-flash",
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 30000},
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = post(gateway, "/v1/messages", body)
    assert response.status_code == 200, response.text
    assert sent_thinking(emulator) == {"includeThoughts": True, "thinkingBudget": 24576}
    assert "budget_tokens 30000 was sent as 24576" in response.headers["polyrelay-warnings"]


def _unit_schema(sent: Any, where: str) -> Any:
    if where == "tool":
        return sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]
    return sent["generationConfig"]["responseJsonSchema"]


@pytest.mark.parametrize("where", ["tool", "response_format"])
def test_ref_keeps_only_the_fields_gemini_allows_beside_it(
    gateway: Gateway, emulator: Emulator, where: str
) -> None:
    body: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "temperature?"}],
    }
    if where == "tool":
        body["tools"] = [{"type": "function", "function": {"name": "temp", "parameters": SCHEMA}}]
    else:
        json_schema = {"name": "answer", "schema": SCHEMA}
        body["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    response = post(gateway, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    sent = _unit_schema(emulator.last()["body"], where)
    assert sent["properties"]["unit"] == {"$ref": "#/$defs/Unit", "description": "which"}
    assert sent["$defs"] == SCHEMA["$defs"]
    assert "dropped title beside $ref" in response.headers["polyrelay-warnings"]


@pytest.mark.parametrize("stream", [False, True])
def test_penalties_are_dropped_for_gemini_2_5(
    gateway: Gateway, emulator: Emulator, stream: bool
) -> None:
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "hi"}],
        "presence_penalty": 0.5,
        "frequency_penalty": 0.5,
        "stream": stream,
    }
    response = post(gateway, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert "generationConfig" not in emulator.last()["body"]
    warnings = response.headers["polyrelay-warnings"]
    assert "does not support presence_penalty" in warnings
    assert "does not support frequency_penalty" in warnings


def test_empty_texts_are_left_out(gateway: Gateway, emulator: Emulator) -> None:
    """Gemini refuses `{"text": ""}`: its `data` is unset."""
    body = {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": ""},
            {
                "role": "user",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "hi"}],
            },
            {
                "role": "assistant",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "yo"}],
            },
            {"role": "user", "content": "again"},
        ],
    }
    response = post(gateway, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    sent = emulator.last()["body"]
    assert "systemInstruction" not in sent
    assert [p["text"] for c in sent["contents"] for p in c["parts"]] == ["hi", "yo", "again"]
