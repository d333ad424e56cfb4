"""OpenAI's strict mode (a function tool's `strict: true`), refused as OpenAI refuses it:
every object of the schema closed (`additionalProperties: false`) and every one of its
properties required. Without this check the emulator would answer a strict tool whose
schema real OpenAI answers with 400."""

from __future__ import annotations

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.wire import as_list, as_object, as_str
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["refuse_loose_strict_responses_tools", "refuse_loose_strict_tools"]


def refuse_loose_strict_tools(body: JSONObject) -> None:
    for i, tool in enumerate(map(as_object, as_list(body.get("tools")))):
        function = as_object(tool.get("function"))
        if function.get("strict") is True:
            _refuse_loose_function(function, f"tools[{i}].function.parameters")


def refuse_loose_strict_responses_tools(body: JSONObject) -> None:
    """A Responses function tool is flat: `strict` beside its `parameters`."""
    for i, tool in enumerate(map(as_object, as_list(body.get("tools")))):
        if tool.get("type") == "function" and tool.get("strict") is True:
            _refuse_loose_function(tool, f"tools[{i}].parameters")


def _refuse_loose_function(function: JSONObject, param: str) -> None:
    problem = _first_problem(as_object(function.get("parameters")))
    if problem is not None:
        name = as_str(function.get("name"))
        raise RequestError(
            400, f"Invalid schema for function '{name}': In context=(), {problem}", param
        )


def _first_problem(schema: JSONObject) -> str | None:
    problems: list[str] = []

    def check(node: SchemaNode) -> SchemaNode:
        if node.get("type") != "object" and "properties" not in node:
            return node
        if node.get("additionalProperties") is not False:
            problems.append("'additionalProperties' is required to be supplied and to be false.")
        missing = set(as_object(node.get("properties"))) - set(as_list(node.get("required")))
        if missing:
            problems.append(
                "'required' is required to be supplied and to be an array including every key"
                f" in properties. Missing '{sorted(missing)[0]}'."
            )
        return node

    rewrite_schema(schema, check)
    return problems[0] if problems else None
