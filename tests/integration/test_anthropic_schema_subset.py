"""An OpenAI client's JSON Schema reaches a Claude model as the subset Anthropic's
structured outputs take: the keywords Anthropic answers 400 for (`minimum`, `maxLength`,
a format off its list, ...) are written into descriptions, `oneOf` becomes `anyOf`, and
the client hears so. The emulator refuses those keywords as Anthropic does
(emulator/anthropic_schema_checks.py), so a 200 here means the gateway did not send them.
An Anthropic client's own schema on the fast path is relayed as written."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel, Field

from tests.integration.conftest import Emulator, Gateway

MODEL = "claude-sonnet-4-5"
HI: Any = {"role": "user", "content": "hi"}
WARNING = "was cut to what Anthropic's structured outputs take"

CONSTRAINED: Any = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Score"},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3},
        "home": {"type": "string", "format": "uri-reference"},
        "mail": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
        "either": {"oneOf": [{"type": "string"}, {"type": "number", "multipleOf": 0.5}]},
    },
    "required": ["score", "code", "home", "mail", "tags", "either"],
    "additionalProperties": False,
}
CUT: Any = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "description": "Score\n\n{minimum: 1, maximum: 10}"},
        "code": {"type": "string", "description": '{pattern: "^[A-Z]{3}$", minLength: 3}'},
        "home": {"type": "string", "description": '{format: "uri-reference"}'},
        "mail": {"type": "string", "format": "email"},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "description": "{minItems: 2, maxItems: 4}",
        },
        "either": {
            "anyOf": [{"type": "string"}, {"type": "number", "description": "{multipleOf: 0.5}"}]
        },
    },
    "required": ["score", "code", "home", "mail", "tags", "either"],
    "additionalProperties": False,
}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def sent(emulator: Emulator) -> Any:
    return emulator.last()["body"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_json_schema_is_cut_to_anthropic_s_subset(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "card", "schema": CONSTRAINED, "strict": True},
    }
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[HI], response_format=response_format, stream=stream
    )
    assert raw.status_code == 200
    assert sent(emulator)["output_config"]["format"]["schema"] == CUT
    warning = raw.headers["polyrelay-warnings"]
    assert WARNING in warning and "minimum, maximum, pattern, minLength" in warning
    assert "oneOf made anyOf" in warning


class Review(BaseModel):
    stars: int = Field(ge=0, le=5)
    summary: str = Field(min_length=1, max_length=280)


def test_a_pydantic_model_with_bounds_parses(client: openai.OpenAI, emulator: Emulator) -> None:
    completion = client.chat.completions.parse(model=MODEL, messages=[HI], response_format=Review)
    assert completion.choices[0].message.parsed == Review(stars=0, summary="You said: hi")
    properties = sent(emulator)["output_config"]["format"]["schema"]["properties"]
    assert properties["stars"]["description"].endswith("{maximum: 5, minimum: 0}")
    assert "minimum" not in properties["stars"] and "maxLength" not in properties["summary"]
    assert properties["summary"]["description"].endswith("{maxLength: 280, minLength: 1}")


def test_a_responses_text_format_is_cut(client: openai.OpenAI, emulator: Emulator) -> None:
    text: Any = {
        "format": {"type": "json_schema", "name": "card", "schema": CONSTRAINED, "strict": True}
    }
    raw = client.responses.with_raw_response.create(model=MODEL, input="hi", text=text)
    assert raw.status_code == 200
    assert sent(emulator)["output_config"]["format"]["schema"] == CUT
    assert WARNING in raw.headers["polyrelay-warnings"]


def test_a_strict_tool_s_parameters_are_cut(client: openai.OpenAI, emulator: Emulator) -> None:
    tool: Any = {
        "type": "function",
        "function": {"name": "rate", "parameters": CONSTRAINED, "strict": True},
    }
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[HI], tools=[tool])
    assert raw.status_code == 200
    assert sent(emulator)["tools"][0]["input_schema"] == CUT
    assert f"the schema of tool rate {WARNING}" in raw.headers["polyrelay-warnings"]


def test_a_recursive_schema_is_refused_in_the_client_s_terms(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    tree: Any = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["children"],
        "additionalProperties": False,
    }
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "t", "schema": tree}}
    emulator.clear()
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=[HI], response_format=response_format)
    assert "is recursive (# -> #)" in refused.value.message
    assert emulator.requests() == []


def test_an_anthropic_client_s_schema_is_relayed_as_written(
    gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """The fast path leaves the client's schema alone: Anthropic's own 400 comes back."""
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(
            model=MODEL,
            max_tokens=256,
            messages=[HI],
            output_config={"format": {"type": "json_schema", "schema": CONSTRAINED}},
        )
    assert "properties maximum, minimum are not supported" in str(refused.value)
    assert sent(emulator)["output_config"]["format"]["schema"] == CONSTRAINED
