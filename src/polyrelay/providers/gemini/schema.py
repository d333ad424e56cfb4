"""Client JSON Schemas → what Gemini's `parametersJsonSchema` / `responseJsonSchema` take.

Gemini takes plain JSON Schema there ($ref/$defs, anyOf, additionalProperties, ...) with one
rule JSON Schema lacks: a node holding `$ref` may hold only `description` and `default`
beside it, else the request is a 400 ("Schema.ref 'X' was set alongside unsupported
fields ... other fields they would be replaced by the expanded reference"). Pydantic,
zod and MCP servers write such nodes (`{"$ref": "#/$defs/X", "title": "X"}`), so those
fields are dropped here, with a warning: Gemini says itself that it would not use them.

Only schema positions are walked, and the client's schema is never changed in place
(providers/schema_walk.py).
"""

from __future__ import annotations

from typing import Any

from polyrelay.context import RequestContext
from polyrelay.providers.schema_memo import SchemaMemo
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["schema_for_gemini"]

_REF_SIBLINGS = frozenset({"$ref", "description", "default"})


def schema_for_gemini(
    schema: dict[str, Any] | None, ctx: RequestContext, where: str
) -> dict[str, Any] | None:
    """`schema` as Gemini takes it; `where` names it in the warning (e.g. "tool get_x")."""
    if schema is None:
        return None
    fixed, dropped = _MEMO.get(schema, _cleaned)
    if dropped:
        ctx.warn(
            f"gemini allows only description and default beside $ref; dropped "
            f"{dropped} beside $ref in the schema of {where}"
        )
    return fixed


_MEMO: SchemaMemo[tuple[SchemaNode, str]] = SchemaMemo()
"""A client's tools are the same schemas on every turn (codec.CachedMember): cleaned once."""


def _cleaned(schema: SchemaNode) -> tuple[SchemaNode, str]:
    """The schema cleaned, and the names of the keywords dropped (empty for none)."""
    dropped: set[str] = set()

    def ref_alone(node: SchemaNode) -> SchemaNode:
        if not isinstance(node.get("$ref"), str):
            return node
        extra = {k for k in node if k not in _REF_SIBLINGS and not k.startswith("$")}
        dropped.update(extra)
        return {k: v for k, v in node.items() if k not in extra} if extra else node

    return rewrite_schema(schema, ref_alone), ", ".join(sorted(dropped))
