"""Client JSON Schemas → what Anthropic's structured outputs take.

Anthropic constrains output (`output_config.format`, and a tool's input with `strict`) only
to a schema whose every object says `additionalProperties: false`; one that leaves it out
(as OpenAI's non-strict schemas may) or allows more is a 400 ("For 'object' type,
'additionalProperties' must be explicitly set to false"). Each object is closed here: a
value the client wrote otherwise is warned, since the answer can then hold no other keys.
"""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["closed_schema"]


def closed_schema(schema: SchemaNode, ctx: RequestContext, where: str) -> SchemaNode:
    """`schema` with every object closed; `where` names it in the warning."""
    opened: list[object] = []

    def close(node: SchemaNode) -> SchemaNode:
        if node.get("type") != "object" or node.get("additionalProperties") is False:
            return node
        if "additionalProperties" in node:
            opened.append(node["additionalProperties"])
        return {**node, "additionalProperties": False}

    closed = rewrite_schema(schema, close)
    if opened:
        ctx.warn(
            f"additionalProperties was set to false on the objects of the schema of {where}:"
            " Anthropic's structured outputs take no other value"
        )
    return closed
