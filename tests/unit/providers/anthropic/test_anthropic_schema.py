"""providers/anthropic/schema.py: a client's JSON Schema cut to what Anthropic's
structured outputs take, with one warning saying what changed, or refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.providers.anthropic.schema import structured_schema


def _cut(schema: Any) -> tuple[Any, list[str]]:
    ctx = RequestContext()
    return structured_schema(schema, ctx, "response_format"), list(ctx.warnings)


def _object(**properties: Any) -> Any:
    return {"type": "object", "properties": properties, "additionalProperties": False}


def test_unsupported_constraints_go_into_the_description() -> None:
    schema = _object(
        n={"type": "integer", "minimum": 1, "maximum": 10, "description": "A number"},
        s={"type": ["string", "null"], "pattern": "^a$", "minLength": 1, "default": "a"},
        a={"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
        kept=_object(
            when={"type": "string", "format": "date-time", "description": "When"},
            kind={"type": "string", "enum": ["a", "b"]},
            list={"type": "array", "items": {"type": "integer"}, "minItems": 1},
            maybe={"anyOf": [{"type": ["string", "null"]}, {"$ref": "#/$defs/Sub"}]},
        ),
    )
    schema["$defs"] = {"Sub": _object(x={"const": 1})}
    before = copy.deepcopy(schema)
    cut, warnings = _cut(schema)
    # What Anthropic takes is kept as it is: the very same object.
    assert cut["properties"]["kept"] is schema["properties"]["kept"]
    assert cut["$defs"] is schema["$defs"]
    assert {k: v for k, v in cut["properties"].items() if k != "kept"} == {
        "n": {"type": "integer", "description": "A number\n\n{minimum: 1, maximum: 10}"},
        "s": {
            "type": ["string", "null"],
            "description": '{pattern: "^a$", minLength: 1, default: "a"}',
        },
        "a": {
            "type": "array",
            "items": {"type": "string"},
            "description": "{minItems: 3, uniqueItems: true}",
        },
    }
    assert schema == before  # the client's schema is never changed in place
    assert warnings == [
        "the schema of response_format was cut to what Anthropic's structured outputs take:"
        " minimum, maximum, pattern, minLength, default, minItems, uniqueItems written into"
        " descriptions"
    ]


def test_a_format_off_anthropic_s_list_goes_into_the_description() -> None:
    cut, _ = _cut(
        _object(
            u={"type": "string", "format": "uri-reference"}, e={"type": "string", "format": "email"}
        )
    )
    assert cut["properties"]["u"] == {"type": "string", "description": '{format: "uri-reference"}'}
    assert cut["properties"]["e"] == {"type": "string", "format": "email"}


def test_one_of_becomes_any_of_and_its_branches_are_cut() -> None:
    schema = _object(v={"oneOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]})
    cut, warnings = _cut(schema)
    assert cut["properties"]["v"] == {
        "anyOf": [{"type": "string", "description": "{maxLength: 3}"}, {"type": "null"}]
    }
    assert warnings[0].endswith("maxLength written into descriptions; oneOf made anyOf")


def test_an_enum_of_objects_and_what_stands_beside_a_ref() -> None:
    schema = _object(
        e={"enum": [{"a": 1}]},
        r={"$ref": "#/$defs/X", "description": "the x", "minimum": 0},
    )
    schema["$defs"] = {"X": {"type": "integer"}}
    cut, warnings = _cut(schema)
    assert cut["properties"]["e"] == {"description": '{enum: [{"a":1}]}'}
    assert cut["properties"]["r"] == {"$ref": "#/$defs/X"}
    assert "description, minimum beside a $ref left out" in warnings[0]


def test_objects_are_closed_and_an_untyped_one_gets_its_type() -> None:
    schema = {"properties": {"o": {"type": "object", "additionalProperties": {"type": "string"}}}}
    cut, warnings = _cut(schema)
    assert cut == {
        "type": "object",
        "properties": {"o": {"type": "object", "additionalProperties": False}},
        "additionalProperties": False,
    }
    assert warnings == [
        "additionalProperties was set to false on the objects of the schema of"
        " response_format: Anthropic's structured outputs take no other value"
    ]


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        (_object(kids={"type": "array", "items": {"$ref": "#"}}), "is recursive (# -> #)"),
        (
            {
                **_object(a={"$ref": "#/$defs/A"}),
                "$defs": {
                    "A": _object(b={"$ref": "#/$defs/B"}),
                    "B": _object(a={"$ref": "#/$defs/A"}),
                },
            },
            "is recursive (A -> B -> A)",
        ),
        (_object(a={"$ref": "https://example.com/a.json"}), "refers outside itself"),
    ],
)
def test_what_no_cutting_makes_acceptable_is_refused(schema: Any, says: str) -> None:
    with pytest.raises(UnsupportedError) as refused:
        _cut(schema)
    assert says in refused.value.message
    assert refused.value.status == 400 and refused.value.param == "response_format"


def test_a_strict_tool_is_named_in_the_warning_and_the_refusal() -> None:
    ctx = RequestContext()
    structured_schema(_object(n={"type": "number", "multipleOf": 2}), ctx, "tool f")
    assert ctx.warnings[0].startswith("the schema of tool f was cut")
    with pytest.raises(UnsupportedError) as refused:
        structured_schema(_object(n={"$ref": "#"}), ctx, "tool f")
    assert refused.value.param == "tools"
