"""The JSON Schema limits of Anthropic's structured outputs (`output_config.format`, a
`strict` tool's input), refused as Anthropic refuses them: a 400 invalid_request_error.

Anthropic's documentation ("JSON Schema limitations") lists what is not supported:
numeric constraints (`minimum`, `maximum`, `multipleOf`, the exclusive bounds), string
length (`minLength`, `maxLength`), an array's `minItems` other than 0 or 1 and its
`maxItems`, string formats off its list, enums of other than primitives, recursive
definitions. The messages are Anthropic's where they were found in reports of its
answers ("output_config.format.schema: For 'number' type, properties maximum, minimum are
not supported"; "tools.0.custom: For 'array' type, 'minItems' values other than 0 or 1
are not supported"; "Circular reference detected in schema definitions: A -> A. ...");
those for a format, `oneOf` and an enum of objects are written in the same style, since
no report of them was found. `pattern` is taken, as the documentation says.

Without this the emulator would answer a schema real Anthropic refuses, and tests could
not show that the gateway never sends one.
"""

from __future__ import annotations

from collections.abc import Iterator

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.wire import as_list, as_object
from polyrelay.providers.schema_refs import reference_cycle
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["refuse_unsupported_schemas", "structured_schemas"]

_NUMERIC = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_REFUSED = {
    "integer": _NUMERIC,
    "number": _NUMERIC,
    "string": frozenset({"minLength", "maxLength"}),
    "array": frozenset({"maxItems"}),
}
"""Per type, the keywords Anthropic says "is not supported" of."""
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def structured_schemas(body: JSONObject) -> Iterator[tuple[SchemaNode, str]]:
    """Each schema of `body` that Anthropic constrains output to (the output format's, a
    strict tool's input), with where Anthropic's messages say it is."""
    schema = as_object(as_object(body.get("output_config")).get("format")).get("schema")
    if isinstance(schema, dict):
        yield schema, "output_config.format.schema"
    for i, tool in enumerate(as_object(t) for t in as_list(body.get("tools"))):
        if tool.get("strict") is True:
            yield as_object(tool.get("input_schema")), f"tools.{i}.custom"


def refuse_unsupported_schemas(body: JSONObject) -> None:
    """Each structured-output schema of `body` checked against Anthropic's limits."""
    for schema, where in structured_schemas(body):
        _refuse_in(schema, where)


def _refuse_in(schema: SchemaNode, where: str) -> None:
    cycle = reference_cycle(schema)
    if cycle is not None:
        raise RequestError(
            400,
            f"{where}: Circular reference detected in schema definitions:"
            f" {' -> '.join(cycle)}. Self-referencing or mutually-referencing definitions are"
            " not supported.",
        )

    def check(node: SchemaNode) -> SchemaNode:
        problem = _problem(node)
        if problem is not None:
            raise RequestError(400, f"{where}: {problem}")
        return node

    rewrite_schema(schema, check)


def _problem(node: SchemaNode) -> str | None:
    if "oneOf" in node:
        return "'oneOf' is not supported; use 'anyOf'"
    enum = node.get("enum")
    if isinstance(enum, list) and not all(
        v is None or isinstance(v, str | int | float) for v in enum
    ):
        return "'enum' values must be strings, numbers, booleans or null"
    kind = _type_of(node)
    if kind is None:
        return None
    refused = sorted(_REFUSED.get(kind, frozenset()) & node.keys())
    if len(refused) == 1:
        return f"For '{kind}' type, property '{refused[0]}' is not supported"
    if refused:
        return f"For '{kind}' type, properties {', '.join(refused)} are not supported"
    if kind == "array" and node.get("minItems", 0) not in (0, 1):
        return "For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    fmt = node.get("format")
    if kind == "string" and fmt is not None and fmt not in _FORMATS:
        return f"For 'string' type, format '{fmt}' is not supported"
    return None


def _type_of(node: SchemaNode) -> str | None:
    """The node's type; of a list (`["string", "null"]`), the one that is not null."""
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None
