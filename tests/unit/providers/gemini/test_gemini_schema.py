"""schema_for_gemini: only description and default stay beside $ref, and only schema
positions are touched."""

from __future__ import annotations

from typing import Any

from polyrelay.context import RequestContext
from polyrelay.providers.gemini.schema import schema_for_gemini

REF = "#/$defs/Point"


def test_a_schema_without_crowded_refs_is_returned_as_is(ctx: RequestContext) -> None:
    schema = {
        "type": "object",
        "properties": {"p": {"$ref": REF, "description": "d", "default": None}},
        "$defs": {"Point": {"type": "object", "additionalProperties": False}},
    }
    assert schema_for_gemini(schema, ctx, "tool t") is schema
    assert not ctx.warnings


def test_crowded_refs_are_thinned_wherever_a_schema_sits(ctx: RequestContext) -> None:
    crowded = {"$ref": REF, "title": "Point", "nullable": True}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "one": dict(crowded),
            "many": {"type": "array", "items": dict(crowded)},
            "either": {"anyOf": [dict(crowded), {"type": "null"}]},
        },
        "$defs": {"Point": {"type": "object", "properties": {"next": dict(crowded)}}},
    }
    before = repr(schema)
    fixed = schema_for_gemini(schema, ctx, "tool t")
    assert fixed is not None
    assert repr(schema) == before  # the client's schema is not changed in place
    props = fixed["properties"]
    assert props["one"] == {"$ref": REF}
    assert props["many"]["items"] == {"$ref": REF}
    assert props["either"]["anyOf"] == [{"$ref": REF}, {"type": "null"}]
    assert fixed["$defs"]["Point"]["properties"]["next"] == {"$ref": REF}
    (warning,) = ctx.warnings
    assert "nullable, title beside $ref in the schema of tool t" in warning


def test_values_and_property_names_that_look_like_refs_are_kept(ctx: RequestContext) -> None:
    schema = {
        "type": "object",
        "properties": {
            "$ref": {"type": "string"},  # a property named $ref
            "link": {
                "type": "object",
                "default": {"$ref": "x", "title": "data"},
                "enum": [{"$ref": "y", "title": "data"}],
            },
        },
    }
    assert schema_for_gemini(schema, ctx, "tool t") is schema
