"""JSON schemas an attacker shapes to exhaust the gateway's recursion, through the real
gateway: a schema nested hundreds of levels deep (still under the JSON decoder's depth
limit) and a chain of thousands of `$ref`s (a flat body) are a 400 in the client's
protocol, never an unhandled RecursionError's 500."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.conftest import Gateway


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def chat(client: openai.OpenAI, model: str, **extra: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **extra
    )


def tool(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-5"])
def test_a_response_format_nested_too_deep_is_a_400(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError, match="nested more than 64 levels"):
        chat(client, model, response_format=response_format(nested(400)))


def test_tool_parameters_nested_too_deep_are_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="nested more than 64 levels"):
        chat(client, "gemini-2.5-flash", tools=[tool(nested(400))])


def test_a_schema_nested_within_the_limit_is_served(client: openai.OpenAI) -> None:
    answer = chat(client, "gemini-2.5-flash", tools=[tool(nested(30))])
    assert answer.choices[0].message.content


def test_a_long_circle_of_refs_is_found_without_recursing(client: openai.OpenAI) -> None:
    # d0 -> d1 -> ... -> d2999 -> d0: a flat body, one definition per link.
    links = 3000
    defs = {f"d{i}": {"$ref": f"#/$defs/d{(i + 1) % links}"} for i in range(links)}
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs}
    with pytest.raises(openai.BadRequestError, match="is recursive"):
        chat(client, "claude-sonnet-4-5", response_format=response_format(schema))
