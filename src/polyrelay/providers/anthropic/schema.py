"""Client JSON Schemas → what Anthropic's structured outputs take.

A translated request's JSON schema (`response_format` / `text.format`, which become
`output_config.format`) and a strict tool's parameters (a tool's `strict`) are cut to
Anthropic's subset (schema_subset.py): every object closed (`additionalProperties:
false`, else a 400 "For 'object' type, 'additionalProperties' must be explicitly set to
false"), `oneOf` made `anyOf`, and the keywords Anthropic refuses (`minimum`,
`maxLength`, a `minItems` of 2, a `format` off its list, ...: "For 'integer' type,
property 'minimum' is not supported") written into descriptions, where the model still
reads them. One warning says what changed. A schema no cutting makes acceptable, a
recursive one or one that refers outside itself, is refused here with a 400 in the
client's protocol rather than sent for Anthropic's 400. An Anthropic client's own schema
on the fast path never comes here.
"""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.errors import UnsupportedError
from polyrelay.providers.anthropic.schema_subset import Changes, subset_node
from polyrelay.providers.schema_refs import external_refs, reference_cycle
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["structured_schema"]


def structured_schema(schema: SchemaNode, ctx: RequestContext, where: str) -> SchemaNode:
    """`schema` closed and cut to the subset Anthropic's structured outputs take; `where`
    names it in the warning and the refusal ("response_format", "tool NAME")."""
    param = "response_format" if where == "response_format" else "tools"
    _refuse_untakeable(schema, where, param)
    changes = Changes()
    cut = rewrite_schema(schema, lambda node: subset_node(node, changes))
    _warn(changes, ctx, where)
    return cut


def _refuse_untakeable(schema: SchemaNode, where: str, param: str) -> None:
    cycle = reference_cycle(schema)
    if cycle is not None:
        raise UnsupportedError(
            f"the schema of {where} is recursive ({' -> '.join(cycle)}): Anthropic's"
            " structured outputs take no self-referencing or mutually-referencing"
            " definitions",
            param=param,
        )
    outside = external_refs(schema)
    if outside:
        raise UnsupportedError(
            f"the schema of {where} refers outside itself ($ref {outside[0]}): Anthropic's"
            " structured outputs take only references within the schema",
            param=param,
        )


def _warn(changes: Changes, ctx: RequestContext, where: str) -> None:
    if changes.opened:
        ctx.warn(
            f"additionalProperties was set to false on the objects of the schema of {where}:"
            " Anthropic's structured outputs take no other value"
        )
    done = []
    if changes.described:
        done.append(f"{_names(changes.described)} written into descriptions")
    if changes.one_of:
        done.append("oneOf made anyOf")
    if changes.dropped:
        done.append(f"{_names(changes.dropped)} beside a $ref left out")
    if done:
        ctx.warn(
            f"the schema of {where} was cut to what Anthropic's structured outputs take: "
            + "; ".join(done)
        )


def _names(keywords: list[str]) -> str:
    """Each keyword once, in the order first met."""
    return ", ".join(dict.fromkeys(keywords))
