"""providers/schema_refs.py: circles of local `$ref`s, and refs outside the schema."""

from __future__ import annotations

from typing import Any

import pytest

from polyrelay.providers.schema_refs import external_refs, reference_cycle


@pytest.mark.parametrize(
    ("schema", "cycle"),
    [
        ({"type": "object", "properties": {"x": {"$ref": "#"}}}, ("#", "#")),
        ({"$defs": {"N": {"items": {"$ref": "#/$defs/N"}}}}, ("N", "N")),
        (
            {
                "properties": {"a": {"$ref": "#/definitions/A"}},
                "definitions": {
                    "A": {"properties": {"b": {"$ref": "#/definitions/B"}}},
                    "B": {"anyOf": [{"$ref": "#/definitions/A"}]},
                },
            },
            ("A", "B", "A"),
        ),
        ({"$defs": {"a/b": {"items": {"$ref": "#/$defs/a~1b"}}}}, ("a/b", "a/b")),
    ],
)
def test_a_circle_is_found_and_named(schema: Any, cycle: tuple[str, ...]) -> None:
    assert reference_cycle(schema) == cycle


@pytest.mark.parametrize(
    "schema",
    [
        {
            "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/$defs/A"}},
            "$defs": {"A": {}},
        },
        {
            "properties": {"a": {"$ref": "#/$defs/A"}},
            "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {}},
        },
        # A property named $ref is no reference; one to nothing leads nowhere.
        {"properties": {"$ref": {"type": "string"}}},
        {"properties": {"a": {"$ref": "#/$defs/missing"}}},
    ],
)
def test_no_circle(schema: Any) -> None:
    assert reference_cycle(schema) is None


def test_external_refs() -> None:
    schema = {"properties": {"a": {"$ref": "other.json#/x"}, "b": {"$ref": "#/$defs/b"}}}
    assert external_refs(schema) == ["other.json#/x"]
