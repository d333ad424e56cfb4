"""Anthropic tools, tool_choice, thinking and output_config → IR.

Custom tools have no `type` (or `custom`); `web_search_20250305` is the one server tool
the gateway carries, into `ChatRequest.web_search` (DESIGN.md: max_uses 1-20,
allowed_domains xor blocked_domains, an approximate user_location). Other server tools
(bash_*, text_editor_*, code_execution_*, computer_*, ...) reach only an Anthropic
upstream, through the fast path; for any other upstream they are refused by name.
"""

from __future__ import annotations

from typing import assert_never

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.ir import (
    FunctionTool,
    OutputFormat,
    OutputFormatKind,
    ReasoningConfig,
    ToolChoice,
    ToolChoiceMode,
    WebSearchTool,
)
from polyrelay.ir.request import SUMMARY_OMITTED
from polyrelay.schemas.anthropic_messages import (
    OutputConfig,
    ThinkingConfigParam,
    ToolChoiceParam,
    ToolParam,
)
from polyrelay.search.options import validate_web_search_tool

__all__ = ["WEB_SEARCH_TYPE", "reasoning_to_ir", "tool_choice_to_ir", "tools_to_ir"]

WEB_SEARCH_TYPE = "web_search_20250305"
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_MIN_BUDGET = 1024
_DISPLAYS = {"summarized": "auto", "omitted": SUMMARY_OMITTED}


def _fail(path: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {message}", param=path)


def tools_to_ir(
    tools: list[ToolParam] | None, ctx: RequestContext, *, forward_server_tools: bool = False
) -> tuple[tuple[FunctionTool, ...], WebSearchTool | None]:
    """`forward_server_tools`: the upstream is Anthropic, whose fast path forwards the
    client's body (and a translation its own tool list), so server tools other than web
    search are left to it, not refused, and no tool option is lost there."""
    functions: list[FunctionTool] = []
    web_search: WebSearchTool | None = None
    for i, tool in enumerate(tools or ()):
        path = f"tools.{i}"
        if tool.type is None or tool.type == "custom":
            functions.append(_function_to_ir(tool, path))
            if not forward_server_tools:
                _warn_uncarried_options(tool, ctx)
        elif tool.type == WEB_SEARCH_TYPE:
            if web_search is not None:
                raise _fail(f"{path}.type", "web_search may be declared only once")
            web_search = _web_search_to_ir(tool, path)
        elif not forward_server_tools:
            raise UnsupportedError(
                f"{path}.type: server tool {tool.type!r} runs only on an Anthropic upstream; "
                f"this model's upstream accepts custom tools and {WEB_SEARCH_TYPE}",
                param=f"{path}.type",
            )
    return tuple(functions), web_search


def _function_to_ir(tool: ToolParam, path: str) -> FunctionTool:
    if tool.input_schema is None:
        raise _fail(f"{path}.input_schema", "Field required")
    description = tool.description
    if tool.input_examples:  # no other upstream has them: the model reads them instead
        examples = "\n".join(msgspec.json.encode(e).decode() for e in tool.input_examples)
        description = f"{description or ''}\n\nExamples of input:\n{examples}".lstrip()
    return FunctionTool(
        name=tool.name,
        description=description,
        parameters=tool.input_schema,
        strict=tool.strict,
    )


def _warn_uncarried_options(tool: ToolParam, ctx: RequestContext) -> None:
    """Options only Anthropic acts on. `eager_input_streaming` needs no word: tool input
    is streamed as the upstream sends it, as with the fine-grained-tool-streaming beta."""
    if tool.defer_loading:
        ctx.warn_translated("defer_loading is not carried; deferred tools are declared up front")
    if tool.allowed_callers and tool.allowed_callers != ["direct"]:
        ctx.warn_translated(
            f"tools {tool.name!r}: allowed_callers is not carried; the model calls it directly"
        )


def _web_search_to_ir(tool: ToolParam, path: str) -> WebSearchTool:
    # One validator for every protocol's web search options (polyrelay.search.options).
    return validate_web_search_tool(msgspec.to_builtins(tool), param=path)


def tool_choice_to_ir(choice: ToolChoiceParam | None) -> tuple[ToolChoice | None, bool | None]:
    """The tool choice and `parallel_tool_calls` (False when parallel use is disabled)."""
    if choice is None:
        return None, None
    parallel = False if choice.disable_parallel_tool_use else None
    match choice.type:
        case "auto":
            return ToolChoice(mode=ToolChoiceMode.AUTO), parallel
        case "any":
            return ToolChoice(mode=ToolChoiceMode.REQUIRED), parallel
        case "none":
            return ToolChoice(mode=ToolChoiceMode.NONE), None
        case "tool":
            if not choice.name:
                raise _fail("tool_choice.name", "Field required when type is 'tool'")
            return ToolChoice(mode=ToolChoiceMode.NAMED, name=choice.name), parallel
        case _:
            assert_never(choice.type)


def reasoning_to_ir(
    thinking: ThinkingConfigParam | None, output_config: OutputConfig | None, max_tokens: int
) -> tuple[ReasoningConfig | None, OutputFormat | None]:
    effort = output_config.effort if output_config else None
    if effort is not None and effort not in _EFFORTS:
        raise _fail("output_config.effort", f"must be one of {', '.join(_EFFORTS)}")
    reasoning = _thinking_to_ir(thinking, max_tokens)
    if effort is not None:
        reasoning = ReasoningConfig(
            enabled=reasoning.enabled if reasoning else True,
            effort=effort,
            budget_tokens=reasoning.budget_tokens if reasoning else None,
            adaptive=reasoning.adaptive if reasoning else False,
            summary=reasoning.summary if reasoning else None,
        )
    fmt = output_config.format if output_config else None
    if fmt is None:
        return reasoning, None
    if fmt.type != "json_schema" or fmt.schema is None:
        raise _fail("output_config.format", "must be {type: 'json_schema', schema: {...}}")
    return reasoning, OutputFormat(kind=OutputFormatKind.JSON_SCHEMA, schema=fmt.schema)


def _summary(display: str | None) -> str | None:
    """`thinking.display` in the IR's terms (ReasoningConfig.summary)."""
    if display is None:
        return None
    if display not in _DISPLAYS:
        raise _fail("thinking.display", "must be one of summarized, omitted")
    return _DISPLAYS[display]


def _thinking_to_ir(
    thinking: ThinkingConfigParam | None, max_tokens: int
) -> ReasoningConfig | None:
    if thinking is None:
        return None
    summary = _summary(thinking.display)
    match thinking.type:
        case "enabled":
            budget = thinking.budget_tokens
            if budget is None:
                raise _fail("thinking.budget_tokens", "Field required when type is 'enabled'")
            if budget < _MIN_BUDGET or budget >= max_tokens:
                raise _fail(
                    "thinking.budget_tokens",
                    f"must be >= {_MIN_BUDGET} and less than max_tokens ({max_tokens}), "
                    f"got {budget}",
                )
            return ReasoningConfig(budget_tokens=budget, summary=summary)
        case "adaptive":
            return ReasoningConfig(adaptive=True, summary=summary)
        case "disabled":
            return ReasoningConfig(enabled=False)
        case _:
            raise _fail("thinking.type", "must be one of enabled, adaptive, disabled")
