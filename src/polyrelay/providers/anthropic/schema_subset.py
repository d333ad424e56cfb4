"""One schema node cut to the JSON Schema subset Anthropic's structured outputs take.

The subset is the one the official SDK's `transform_schema` sends (anthropic-sdk-python,
lib/_parse/_transform.py), since that is what Anthropic itself does to a schema: the
types, `description`, `title`, `anyOf`, `allOf`, `$ref` / `$defs`, an `enum` or `const`
of primitives; an object's `properties`, `required` and `additionalProperties`; an
array's `items` and a `minItems` of 0 or 1; a string's `format` from Anthropic's list.
`oneOf` becomes `anyOf`. Every other keyword is written into the node's `description`
(`{minimum: 1, maximum: 10}`), so that the model still reads what the client asked for
though the grammar no longer enforces it; beside a `$ref` nothing else is kept.

Where the SDK and Anthropic's documentation disagree, the SDK is followed: the docs list
`pattern` and `default` as supported, the SDK moves them into the description. Where the
SDK falls short, the docs are: `definitions` is kept (the SDK would describe it away and
break `#/definitions/...` refs) and a list of types (`["string", "null"]`, as OpenAI's
strict schemas write a nullable field) is taken (the SDK fails on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polyrelay.codec import encode_str
from polyrelay.providers.schema_walk import SchemaNode

__all__ = ["STRING_FORMATS", "Changes", "subset_node"]

STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
"""The string formats Anthropic's structured outputs take."""
_ANY_TYPE = frozenset({"type", "description", "title", "anyOf", "allOf", "$defs", "definitions"})
_BESIDE_REF = frozenset({"$ref", "$defs", "definitions"})
_OBJECT = frozenset({"properties", "required", "additionalProperties"})


@dataclass
class Changes:
    """What cutting a schema changed, for the one warning that says so."""

    described: list[str] = field(default_factory=list)
    """Keywords written into a description."""
    dropped: list[str] = field(default_factory=list)
    """Keywords left out beside a `$ref`."""
    one_of: bool = False
    """A `oneOf` became `anyOf`."""
    opened: bool = False
    """An object allowed other properties, and was closed."""


def subset_node(node: SchemaNode, changes: Changes) -> SchemaNode:
    """`node` itself when Anthropic takes it as it is, else a copy it takes."""
    if "$ref" in node:
        return _beside_ref(node, changes)
    if "type" not in node and "properties" in node:
        # OpenAI reads `{"properties": ...}` as an object (providers/anthropic/request.py
        # does the same for a tool's parameters); Anthropic needs the type said.
        node = {"type": "object", **node}
    types = _types(node)
    kept: SchemaNode = {}
    extra: dict[str, Any] = {}
    for key, value in node.items():
        if _takes(key, value, types):
            kept[key] = value
        elif key == "oneOf" and isinstance(value, list) and "anyOf" not in node:
            kept["anyOf"] = value
            changes.one_of = True
        else:
            extra[key] = value
    if extra:
        kept["description"] = _described(node.get("description"), extra)
        changes.described.extend(extra)
    if "object" in types and kept.get("additionalProperties") is not False:
        changes.opened = changes.opened or "additionalProperties" in kept
        kept["additionalProperties"] = False
    return node if kept == node else kept


def _beside_ref(node: SchemaNode, changes: Changes) -> SchemaNode:
    """As the SDK: a `$ref` stands alone (with the definitions it may carry)."""
    others = [key for key in node if key not in _BESIDE_REF]
    if not others:
        return node
    changes.dropped.extend(others)
    return {key: value for key, value in node.items() if key in _BESIDE_REF}


def _takes(key: str, value: Any, types: frozenset[str]) -> bool:
    """Whether Anthropic takes `key: value` in a node of `types`."""
    if key in _ANY_TYPE:
        return True
    if key == "enum":
        return isinstance(value, list) and bool(value) and all(map(_primitive, value))
    if key == "const":
        return _primitive(value)
    if key in _OBJECT:
        return "object" in types
    if key == "items":
        return "array" in types and isinstance(value, dict)
    if key == "minItems":
        return "array" in types and value in (0, 1) and not isinstance(value, bool)
    if key == "format":
        return "string" in types and value in STRING_FORMATS
    return False


def _types(node: SchemaNode) -> frozenset[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list):
        return frozenset(k for k in kind if isinstance(k, str))
    return frozenset()


def _primitive(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _described(description: object, extra: dict[str, Any]) -> str:
    """The description with the keywords Anthropic does not take written after it, in
    the SDK's shape (`{minimum: 1, maximum: 10}`), each value as JSON."""
    words = "{" + ", ".join(f"{key}: {encode_str(value)}" for key, value in extra.items()) + "}"
    if isinstance(description, str) and description:
        return f"{description}\n\n{words}"
    return words
