"""A function tool as an Anthropic `tools` entry (its `input_schema` an object schema, cut to
the structured-outputs subset when strict), encoded once per tool schema: a client's tools
are the same schemas every turn (codec.CachedMember, providers/schema_memo.py)."""

from __future__ import annotations

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.ir import FunctionTool
from polyrelay.providers.anthropic.schema import structured_schema
from polyrelay.providers.schema_memo import Declarations
from polyrelay.schemas.anthropic_messages import ToolParam

__all__ = ["EMPTY_SCHEMA", "declared"]

EMPTY_SCHEMA: JSONObject = {"type": "object", "properties": {}}


def _declared(tool: FunctionTool, ctx: RequestContext) -> ToolParam:
    return ToolParam(
        name=tool.name,
        description=tool.description,
        input_schema=_input_schema(tool, ctx),
        strict=tool.strict,
    )


declared = Declarations(_declared)
"""The tool's entry: a ToolParam, or its encoded text (see Declarations)."""


def _object_schema(parameters: JSONObject | None) -> JSONObject:
    """Anthropic requires `input_schema.type` ("Field required"); OpenAI takes parameters
    without it (`{"properties": ...}`), which describe an object all the same."""
    if not parameters:
        return EMPTY_SCHEMA
    return parameters if "type" in parameters else {"type": "object", **parameters}


def _input_schema(tool: FunctionTool, ctx: RequestContext) -> JSONObject:
    schema = _object_schema(tool.parameters)
    return structured_schema(schema, ctx, f"tool {tool.name}") if tool.strict else schema
