"""The emulator's structured output: the smallest instance a JSON schema allows, its
strings the reply text, deterministic and bounded on recursive schemas."""

from __future__ import annotations

import json

from polyrelay.emulator.structured import json_reply, schema_of


def test_an_instance_of_a_pydantic_style_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 18},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "kind": {"enum": ["a", "b"]},
            "home": {"$ref": "#/$defs/Place"},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "ok": {"type": ["boolean", "null"]},
        },
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
    assert json.loads(json_reply(schema, "hi")) == {
        "name": "hi",
        "age": 18,
        "tags": ["hi", "hi"],
        "kind": "a",
        "home": {"city": "hi"},
        "note": None,
        "ok": False,
    }


def test_a_recursive_schema_ends() -> None:
    schema = {"$ref": "#/$defs/Node", "$defs": {"Node": {"anyOf": [{"$ref": "#/$defs/Node"}]}}}
    assert json_reply(schema, "x") == "null"


def test_json_mode_and_text_mode() -> None:
    assert schema_of({"type": "json_object"}) == {}
    assert json.loads(json_reply({}, "hi")) == {"text": "hi"}
    assert schema_of({"type": "text"}) is None and schema_of(None) is None
    chat = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string"}}}
    assert schema_of(chat) == {"type": "string"}
    assert schema_of({"type": "json_schema", "schema": {"type": "number"}}) == {"type": "number"}
