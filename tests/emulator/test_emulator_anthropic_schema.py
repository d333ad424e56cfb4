"""The emulator refuses, as Anthropic does, the JSON Schema keywords its structured
outputs do not take (emulator/anthropic_schema_checks.py), and takes the rest."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


def _output(schema: Any) -> dict[str, Any]:
    return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}


def _closed(**properties: Any) -> Any:
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _post(base_url: str, fields: dict[str, Any]) -> httpx.Response:
    body = {"model": "m", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{base_url}/v1/messages", json={**body, **fields})


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        (
            _closed(n={"type": "integer", "minimum": 1}),
            "output_config.format.schema: For 'integer' type, property 'minimum' is not supported",
        ),
        (
            _closed(n={"type": ["number", "null"], "maximum": 1, "minimum": 0}),
            "For 'number' type, properties maximum, minimum are not supported",
        ),
        (_closed(s={"type": "string", "maxLength": 9}), "property 'maxLength' is not supported"),
        (_closed(s={"type": "string", "format": "uri-reference"}), "format 'uri-reference'"),
        (
            _closed(a={"type": "array", "items": {"type": "string"}, "minItems": 2}),
            "'minItems' values other than 0 or 1 are not supported",
        ),
        (_closed(a={"type": "array", "maxItems": 3}), "property 'maxItems' is not supported"),
        (_closed(u={"oneOf": [{"type": "string"}, {"type": "null"}]}), "'oneOf' is not supported"),
        (_closed(e={"enum": [{"a": 1}]}), "'enum' values must be"),
        (
            {**_closed(c={"$ref": "#/$defs/N"}), "$defs": {"N": _closed(k={"$ref": "#/$defs/N"})}},
            "Circular reference detected in schema definitions: N -> N.",
        ),
    ],
)
def test_a_schema_with_what_anthropic_refuses_is_a_400(
    base_url: str, schema: Any, says: str
) -> None:
    response = _post(base_url, _output(schema))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]


def test_a_strict_tool_is_checked_as_anthropic_names_it(base_url: str) -> None:
    schema = _closed(n={"type": "integer", "multipleOf": 2})
    tool = {"name": "f", "input_schema": schema, "strict": True}
    response = _post(base_url, {"tools": [{"name": "g", "input_schema": schema}, tool]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == (
        "tools.1.custom: For 'integer' type, property 'multipleOf' is not supported"
    )
