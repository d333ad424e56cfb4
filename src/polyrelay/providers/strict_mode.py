"""OpenAI's strict mode for function tools: which schemas it takes.

OpenAI answers a strict tool whose schema has an object left open (without
`additionalProperties: false`) or with an optional property with 400 ("Invalid schema for
function ...: 'required' is required to be supplied and to be an array including every key
in properties"); Anthropic's strict tools may have both. Such a tool goes without strict.
"""

from __future__ import annotations

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["strict_mode_takes", "strict_or_warn"]


def strict_mode_takes(schema: JSONObject | None) -> bool:
    """Whether every object of `schema` is closed and requires all its properties."""
    loose: list[SchemaNode] = []

    def check(node: SchemaNode) -> SchemaNode:
        if node.get("type") == "object" or "properties" in node:
            required = set(node.get("required") or ())
            if (
                node.get("additionalProperties") is not False
                or set(node.get("properties") or ()) - required
            ):
                loose.append(node)
        return node

    rewrite_schema(schema or {}, check)
    return not loose


def strict_or_warn(name: str, schema: JSONObject | None, ctx: RequestContext) -> bool:
    """A strict tool's `strict`: False, warned, when OpenAI's strict mode refuses its schema."""
    if strict_mode_takes(schema):
        return True
    ctx.warn(
        f"tool {name!r} was sent without strict: OpenAI's strict mode needs every object"
        " closed (additionalProperties: false) and all its properties required"
    )
    return False
