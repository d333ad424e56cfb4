"""Rewrite every subschema of a client's JSON Schema, for an upstream with rules of its own.

Only schema positions are walked, so a property named `$ref` or a `default` / `enum` /
`const` value that looks like a schema is left alone. The client's schema is never
changed in place: a copy is made only along a path that needs changing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from polyrelay.errors import InvalidRequestError

__all__ = ["MAX_SCHEMA_DEPTH", "SchemaNode", "rewrite_schema"]

MAX_SCHEMA_DEPTH = 64
"""Subschemas nested deeper than this are refused (a 400): the walk recurses once per
level, and a body nested near the JSON decoder's limit would otherwise exhaust Python's
recursion limit (a 500). No upstream takes schemas anywhere near this deep."""

SchemaNode = dict[str, Any]

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


def rewrite_schema(schema: SchemaNode, fix: Callable[[SchemaNode], SchemaNode]) -> SchemaNode:
    """`schema` with `fix` applied to each node (the node's own keys first, then its
    subschemas); `fix` returns the node itself when it changes nothing, a copy else.
    InvalidRequestError for a schema nested more than MAX_SCHEMA_DEPTH levels deep."""
    return _rewrite(schema, fix, 0)


def _rewrite(schema: SchemaNode, fix: Callable[[SchemaNode], SchemaNode], depth: int) -> SchemaNode:
    if depth > MAX_SCHEMA_DEPTH:
        raise InvalidRequestError(
            f"a JSON schema (a tool's parameters or a response format) is nested more than"
            f" {MAX_SCHEMA_DEPTH} levels deep; flatten it"
        )
    node = fix(schema)
    out = node
    # No snapshot of the items: `out` is `node` only when `fix` made a copy, and then
    # only the value of a key already passed is replaced (the size never changes).
    for key, value in node.items():
        if key in _SCHEMA_MAPS:
            fixed = _map(value, fix, depth + 1)
        elif key in _SCHEMAS:
            fixed = _schemas(value, fix, depth + 1)
        else:
            continue
        if fixed is not value:
            out = dict(out) if out is schema else out
            out[key] = fixed
    return out


def _schemas(value: Any, fix: Callable[[SchemaNode], SchemaNode], depth: int) -> Any:
    if isinstance(value, dict):
        return _rewrite(value, fix, depth)
    if not isinstance(value, list):
        return value
    return _members(value, enumerate(value), list, fix, depth)


def _map(value: Any, fix: Callable[[SchemaNode], SchemaNode], depth: int) -> Any:
    if not isinstance(value, dict):
        return value
    return _members(value, value.items(), dict, fix, depth)


def _members(
    value: Any,
    members: Iterable[tuple[Any, Any]],
    copy: Callable[[Any], Any],
    fix: Callable[[SchemaNode], SchemaNode],
    depth: int,
) -> Any:
    """`value` (a list or a map of schemas, its `members` as (index or name, schema)) with
    each schema rewritten; `copy` made at the first one that changes only."""
    fixed: Any = None
    for key, sub in members:
        if isinstance(sub, dict):
            new = _rewrite(sub, fix, depth)
            if new is not sub:
                fixed = copy(value) if fixed is None else fixed
                fixed[key] = new
    return value if fixed is None else fixed
