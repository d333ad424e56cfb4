"""Structured output in the emulator: a reply asked for as JSON (a JSON schema, or JSON
mode) is JSON, as a real model's would be, so that a client's `parse()` can be tested end
to end.

The instance is the smallest one the schema allows, built from the schema alone: every
property of an object (its required ones at least), the reply text for strings, 0, false,
null, an enum's or a const's value, the first branch of anyOf/oneOf, `$ref` resolved within
the schema. Arrays get `minItems` items. It is deterministic: the same request, the same
answer.
"""

from __future__ import annotations

from typing import Any

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.wire import as_object

__all__ = ["json_reply", "schema_instance", "schema_of"]

_MAX_DEPTH = 32
"""A recursive schema stops here (with null) instead of recursing for ever."""


def schema_of(format_: object) -> JSONObject | None:
    """The JSON schema a request's format asks for; `{}` for plain JSON mode; None for
    text. `format_` is the protocol's format object with `type` and the schema under
    `schema` (or `json_schema.schema`, Chat's)."""
    fmt = as_object(format_)
    kind = fmt.get("type")
    if kind == "json_object":
        return {}
    if kind != "json_schema":
        return None
    schema = fmt.get("schema", as_object(fmt.get("json_schema")).get("schema"))
    return as_object(schema)


def json_reply(schema: JSONObject, text: str) -> str:
    """The JSON text of an instance of `schema` (`{}`: any JSON object), its strings
    `text`."""
    if not schema:
        return encode({"text": text}).decode()
    return encode(_instance(schema, schema, text, 0)).decode()


def schema_instance(schema: JSONObject, text: str) -> Any:
    """The smallest instance of `schema`, its strings `text` (a forced tool call's
    arguments are built from the tool's parameters schema this way)."""
    return _instance(schema, schema, text, 0)


def _instance(node: Any, root: JSONObject, text: str, depth: int) -> Any:
    node = as_object(node)
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in node:
        return _instance(_resolve(str(node["$ref"]), root), root, text, depth + 1)
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    for branch in ("anyOf", "oneOf", "allOf"):
        if isinstance(node.get(branch), list) and node[branch]:
            return _instance(node[branch][0], root, text, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    # Gemini's OpenAPI schemas write the types in capitals (OBJECT, STRING).
    return _typed(kind.lower() if isinstance(kind, str) else kind, node, root, text, depth)


def _typed(kind: object, node: JSONObject, root: JSONObject, text: str, depth: int) -> Any:
    if kind == "object" or (kind is None and "properties" in node):
        properties = as_object(node.get("properties"))
        return {name: _instance(sub, root, text, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        least = node.get("minItems")
        count = least if isinstance(least, int) else 0
        return [_instance(node.get("items"), root, text, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        minimum = node.get("minimum")
        return minimum if isinstance(minimum, int | float) else 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text  # a string, or a schema that says nothing of its type


def _resolve(ref: str, root: JSONObject) -> Any:
    """A local `#/...` pointer; anything else resolves to no constraint."""
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for key in filter(None, ref[1:].split("/")):
        node = as_object(node).get(key.replace("~1", "/").replace("~0", "~"))
    return node
