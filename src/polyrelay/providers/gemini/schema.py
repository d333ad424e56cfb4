"""Client JSON Schemas → what Gemini's `parametersJsonSchema` / `responseJsonSchema` take.

Gemini takes plain JSON Schema there ($ref/$defs, anyOf, additionalProperties, ...) with one
rule JSON Schema lacks: a node holding `$ref` may hold only `description` and `default`
beside it, else the request is a 400 ("Schema.ref 'X' was set alongside unsupported
fields ... other fields they would be replaced by the expanded reference"). Pydantic,
zod and MCP servers write such nodes (`{"$ref": "#/$defs/X", "title": "X"}`), so those
fields are dropped here, with a warning: Gemini says itself that it would not use them.

Only schema positions are walked, so a property named `$ref` or a `default` / `enum` /
`const` value that looks like a schema is left alone. The client's schema is never
changed in place; a copy is made only along a path that needs changing.
"""

from __future__ import annotations

from typing import Any

from polyrelay.context import RequestContext

__all__ = ["schema_for_gemini"]

_REF_SIBLINGS = frozenset({"$ref", "description", "default"})
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
"""Keywords whose value maps names to schemas."""
_SCHEMAS = frozenset(
    {
        "items",
        "prefixItems",
        "additionalItems",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
"""Keywords whose value is a schema or a list of schemas."""


def schema_for_gemini(
    schema: dict[str, Any] | None, ctx: RequestContext, where: str
) -> dict[str, Any] | None:
    """`schema` as Gemini takes it; `where` names it in the warning (e.g. "tool get_x")."""
    if schema is None:
        return None
    dropped: set[str] = set()
    fixed = _node(schema, dropped)
    if dropped:
        ctx.warn(
            f"gemini allows only description and default beside $ref; dropped "
            f"{', '.join(sorted(dropped))} beside $ref in the schema of {where}"
        )
    return fixed


def _node(node: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    out = node
    if isinstance(node.get("$ref"), str):
        extra = {k for k in node if k not in _REF_SIBLINGS and not k.startswith("$")}
        if extra:
            dropped |= extra
            out = {k: v for k, v in node.items() if k not in extra}
    for key, value in list(out.items()):
        if key in _SCHEMA_MAPS:
            fixed = _map(value, dropped)
        elif key in _SCHEMAS:
            fixed = _schemas(value, dropped)
        else:
            continue
        if fixed is not value:
            out = dict(out) if out is node else out
            out[key] = fixed
    return out


def _schemas(value: Any, dropped: set[str]) -> Any:
    if isinstance(value, dict):
        return _node(value, dropped)
    if isinstance(value, list):
        fixed = [_node(v, dropped) if isinstance(v, dict) else v for v in value]
        return value if all(a is b for a, b in zip(fixed, value, strict=True)) else fixed
    return value


def _map(value: Any, dropped: set[str]) -> Any:
    if not isinstance(value, dict):
        return value
    fixed = {k: _node(v, dropped) if isinstance(v, dict) else v for k, v in value.items()}
    return value if all(fixed[k] is v for k, v in value.items()) else fixed
