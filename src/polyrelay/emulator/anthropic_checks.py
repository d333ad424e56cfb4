"""Requests Anthropic refuses, refused as Anthropic does: a 400 in Anthropic's words.

- sampling beside thinking (docs.anthropic.com extended thinking: "Thinking isn't
  compatible with temperature or top_k modifications"; top_p only from 0.95 to 1);
- `temperature` and `top_p` together to a model from Claude Opus 4.1 and the 4.5 family
  on ("`temperature` and `top_p` cannot both be specified for this model");
- a stop sequence of whitespace only;
- a tool_use id (or a tool_result's tool_use_id) outside `^[a-zA-Z0-9_-]+$`;
- an assistant message whose last block is its thinking;
- a system block of whitespace only;
- a message whose text blocks are whitespace only (beside real text one may be);
- a final assistant message (a prefill) whose text ends in whitespace, or, with thinking
  on, that does not start with its thinking;
- a client tool whose `input_schema` has no `type` (the API requires `type: object`);
- more than 4 blocks with `cache_control` (a top-level one, automatic caching's, counts);
- an object in a structured output schema (`output_config.format`, a `strict` tool's
  input) without `additionalProperties: false`, and the keywords such a schema may not
  hold (anthropic_schema_checks.py).

Without these the emulator would answer what real Anthropic refuses.
"""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.anthropic_schema_checks import (
    refuse_unsupported_schemas,
    structured_schemas,
)
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.wire import as_list, as_object
from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["refuse_shapes"]

_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]+")
# Opus 4.1 and every 4.x from 4.5 on; not claude-opus-4-20250514 (Opus 4).
_ONE_SAMPLER_MODEL = re.compile(r"claude-(opus|sonnet|haiku)-4-[1-9](?!\d)")
_MIN_THINKING_TOP_P = 0.95
_MAX_CACHE_MARKERS = 4


def refuse_shapes(
    body: JSONObject,
    messages: list[tuple[str, list[JSONObject]]],
    tools: list[JSONObject],
    *,
    thinks: bool,
) -> None:
    """Each refusal listed above, for a request read as `messages` and `tools`."""
    _refuse_tool_schemas(tools)
    _refuse_cache_markers(body, messages, tools)
    _refuse_bad_tool_ids(messages)
    _refuse_blank_text(messages)
    _refuse_blank_system(body.get("system"))
    _refuse_thinking_last(messages)
    _refuse_prefill_whitespace(messages)
    _refuse_sampling(body, thinks=thinks)
    _refuse_open_objects(body)
    refuse_unsupported_schemas(body)
    if thinks:
        _refuse_prefill_without_thinking(messages)


def _refuse_sampling(body: JSONObject, *, thinks: bool) -> None:
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if thinks:
        if temperature is not None and temperature != 1:
            raise RequestError(
                400,
                "temperature may only be set to 1 when thinking is enabled or in adaptive"
                " mode. Please consult our documentation at"
                " https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
                "temperature",
            )
        if body.get("top_k") is not None:
            raise RequestError(
                400, "top_k may not be set when thinking is enabled or in adaptive mode", "top_k"
            )
        if isinstance(top_p, int | float) and top_p < _MIN_THINKING_TOP_P:
            raise RequestError(
                400,
                "top_p must be greater than or equal to 0.95 or unset when thinking is enabled",
                "top_p",
            )
    model = str(body.get("model", ""))
    if temperature is not None and top_p is not None and _ONE_SAMPLER_MODEL.search(model):
        raise RequestError(
            400,
            "`temperature` and `top_p` cannot both be specified for this model. Please use"
            " only one.",
        )
    for sequence in as_list(body.get("stop_sequences")):
        if isinstance(sequence, str) and not sequence.strip():
            raise RequestError(
                400, "stop_sequences: each stop sequence must contain non-whitespace"
            )


def _refuse_bad_tool_ids(messages: list[tuple[str, list[JSONObject]]]) -> None:
    for i, (_, blocks) in enumerate(messages):
        for j, block in enumerate(blocks):
            kind = block.get("type")
            value = block.get("id" if kind == "tool_use" else "tool_use_id")
            if kind in ("tool_use", "tool_result") and not (
                isinstance(value, str) and _TOOL_USE_ID.fullmatch(value)
            ):
                field = "id" if kind == "tool_use" else "tool_use_id"
                raise RequestError(
                    400,
                    f"messages.{i}.content.{j}.{kind}.{field}: String should match pattern"
                    " '^[a-zA-Z0-9_-]+$'",
                )


def _refuse_thinking_last(messages: list[tuple[str, list[JSONObject]]]) -> None:
    for i, (role, blocks) in enumerate(messages):
        if role == "assistant" and blocks:
            if blocks[-1].get("type") in ("thinking", "redacted_thinking"):
                raise RequestError(
                    400,
                    f"messages.{i}: The final block in an assistant message cannot be `thinking`.",
                )


def _refuse_blank_system(system: object) -> None:
    for block in as_list(system) if isinstance(system, list) else []:
        text = as_object(block).get("text")
        if isinstance(text, str) and text and not text.strip():
            raise RequestError(
                400, "system: text content blocks must contain non-whitespace text", "system"
            )


def _refuse_blank_text(messages: list[tuple[str, list[JSONObject]]]) -> None:
    for i, (_, blocks) in enumerate(messages):
        texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
        if texts and not any(text.strip() for text in texts):
            raise RequestError(
                400,
                "messages: text content blocks must contain non-whitespace text",
                f"messages.{i}",
            )


def _refuse_prefill_whitespace(messages: list[tuple[str, list[JSONObject]]]) -> None:
    if not messages or messages[-1][0] != "assistant" or not messages[-1][1]:
        return
    last = messages[-1][1][-1]
    text = last.get("text")
    if last.get("type") == "text" and isinstance(text, str) and text != text.rstrip():
        raise RequestError(
            400, "messages: final assistant content cannot end with trailing whitespace"
        )


def _refuse_prefill_without_thinking(messages: list[tuple[str, list[JSONObject]]]) -> None:
    """With thinking on, as the API: a final assistant message starts with its thinking."""
    if not messages or messages[-1][0] != "assistant" or not messages[-1][1]:
        return
    first = str(messages[-1][1][0].get("type"))
    if first not in ("thinking", "redacted_thinking"):
        raise RequestError(
            400,
            f"messages.{len(messages) - 1}.content.0.type: Expected `thinking` or"
            f" `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final"
            " `assistant` message must start with a thinking block (preceeding the lastmost"
            " set of `tool_use` and `tool_result` blocks). We recommend you include thinking"
            " blocks from previous turns. To avoid this requirement, disable `thinking`.",
        )


def _refuse_cache_markers(
    body: JSONObject, messages: list[tuple[str, list[JSONObject]]], tools: list[JSONObject]
) -> None:
    blocks = [*tools, *as_list(body.get("system"))]
    for _, content in messages:
        for block in content:
            blocks.append(block)
            blocks.extend(as_list(block.get("content")))  # a tool_result's blocks
    found = sum(1 for block in blocks if isinstance(block, dict) and block.get("cache_control"))
    if body.get("cache_control"):  # automatic caching takes one of the four slots
        found += 1
    if found > _MAX_CACHE_MARKERS:
        raise RequestError(
            400,
            f"A maximum of {_MAX_CACHE_MARKERS} blocks with cache_control may be provided."
            f" Found {found}.",
        )


def _refuse_tool_schemas(tools: list[JSONObject]) -> None:
    for i, tool in enumerate(tools):
        if tool.get("type") not in (None, "custom"):
            continue
        schema_type = as_object(tool.get("input_schema")).get("type")
        if schema_type != "object":
            found = "Field required" if schema_type is None else "Input should be 'object'"
            raise RequestError(
                400, f"tools.{i}.custom.input_schema.type: {found}", f"tools.{i}.input_schema"
            )


def _refuse_open_objects(body: JSONObject) -> None:
    for schema, where in structured_schemas(body):
        _refuse_open_in(schema, where)


def _refuse_open_in(schema: SchemaNode, where: str) -> None:
    def check(node: SchemaNode) -> SchemaNode:
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            raise RequestError(
                400,
                f"{where}: For 'object' type, 'additionalProperties' must be explicitly set"
                " to false",
            )
        return node

    rewrite_schema(schema, check)
