"""Responses tool declarations and tool_choice → IR.

- `function` → FunctionTool.
- `namespace` (Codex: a group of functions) → one FunctionTool per member, named
  `<namespace>__<member>`; ToolNames records the split so calls go back to the client as
  `function_call{name: member, namespace}` (the SDK's ResponseFunctionToolCall.namespace).
- `custom` (free-form input, optionally with a grammar) → a FunctionTool taking
  `{"input": string}`, with the grammar quoted in the description; calls go back as
  `custom_tool_call{input}`. Lossy: the grammar is not enforced, so a warning is recorded.
- `web_search*` → ChatRequest.web_search.
- Anything else (`tool_search`, `file_search`, `mcp`, ...) is dropped with a warning.
"""

from __future__ import annotations

from typing import Any

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.openai_responses.options import NAMESPACE_SEPARATOR, ToolNames
from polyrelay.ir import FunctionTool, ToolChoice, ToolChoiceMode, WebSearchTool
from polyrelay.schemas.openai_responses import ToolChoiceParam, ToolParam
from polyrelay.search.options import validate_domains, validate_user_location

__all__ = ["WEB_SEARCH_TYPES", "tool_choice_to_ir", "tools_to_ir"]

WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
_CUSTOM_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's free-form input."}},
    "required": ["input"],
    "additionalProperties": False,
}


def tools_to_ir(
    tools: list[ToolParam], names: ToolNames, ctx: RequestContext
) -> tuple[list[FunctionTool], WebSearchTool | None]:
    out: list[FunctionTool] = []
    web_search: WebSearchTool | None = None
    for index, tool in enumerate(tools):
        match tool.type:
            case "function":
                out.append(_function_to_ir(tool, tool.name, f"tools[{index}]", ctx))
            case "namespace":
                out.extend(_namespace_to_ir(tool, names, index, ctx))
            case "custom":
                _warn_uncarried_options(tool, f"tools[{index}]", ctx)
                out.append(_custom_to_ir(tool, index, ctx))
                names.custom.add(out[-1].name)
            case kind if kind in WEB_SEARCH_TYPES:
                web_search = _web_search_to_ir(tool, index, ctx)
            case kind:
                ctx.warn_translated(f"tool type {kind!r} is not supported by the gateway; dropped")
    return out, web_search


def _function_to_ir(
    tool: ToolParam, name: str | None, param: str, ctx: RequestContext
) -> FunctionTool:
    if not name:
        raise InvalidRequestError(f"{param}.name is required", param=f"{param}.name")
    _warn_uncarried_options(tool, param, ctx)
    description = tool.description
    if tool.output_schema is not None:  # no other upstream has one: the model reads it
        schema = msgspec.json.encode(tool.output_schema).decode()
        description = f"{description or ''}\n\nIts output follows this JSON schema:\n{schema}"
    return FunctionTool(
        name=name, description=description, parameters=tool.parameters, strict=tool.strict
    )


def _warn_uncarried_options(tool: ToolParam, param: str, ctx: RequestContext) -> None:
    """Options only OpenAI acts on (tool search, programmatic calls): the IR's tools are
    declared up front and called by the model."""
    if tool.defer_loading:
        ctx.warn_translated("defer_loading is not carried; deferred tools are declared up front")
    if tool.allowed_callers and tool.allowed_callers != ["direct"]:
        ctx.warn_translated(f"{param}.allowed_callers is not carried; the model calls it directly")


def _namespace_to_ir(
    tool: ToolParam, names: ToolNames, index: int, ctx: RequestContext
) -> list[FunctionTool]:
    if not tool.name:
        raise InvalidRequestError(f"tools[{index}].name is required", param=f"tools[{index}].name")
    out: list[FunctionTool] = []
    for member_index, member in enumerate(tool.tools or ()):
        param = f"tools[{index}].tools[{member_index}]"
        if member.type != "function" or not member.name:
            raise InvalidRequestError(f"{param} must be a named function tool", param=param)
        flat = f"{tool.name}{NAMESPACE_SEPARATOR}{member.name}"
        names.namespaced[flat] = (tool.name, member.name)
        out.append(_function_to_ir(member, flat, param, ctx))
    return out


def _custom_to_ir(tool: ToolParam, index: int, ctx: RequestContext) -> FunctionTool:
    if not tool.name:
        raise InvalidRequestError(f"tools[{index}].name is required", param=f"tools[{index}].name")
    ctx.warn_translated(f"custom tool {tool.name!r} is declared as a function taking {{input}}")
    description = tool.description or ""
    fmt = tool.format or {}
    if fmt.get("type") == "grammar":
        syntax, definition = fmt.get("syntax", ""), fmt.get("definition", "")
        description += f"\n\nThe input must follow this {syntax} grammar:\n{definition}"
    return FunctionTool(
        name=tool.name, description=description or None, parameters=_CUSTOM_INPUT_SCHEMA
    )


def _web_search_to_ir(tool: ToolParam, index: int, ctx: RequestContext) -> WebSearchTool:
    if tool.search_context_size is not None:
        ctx.warn_translated("web_search search_context_size is not supported; ignored")
    if tool.external_web_access is False:
        ctx.warn_translated("web_search external_web_access=false is not enforced by the gateway")
    # The same domain and location rules as the Anthropic tool (polyrelay.search.options).
    param = f"tools[{index}]"
    location = validate_user_location(
        msgspec.to_builtins(tool.user_location) if tool.user_location else None,
        param=f"{param}.user_location",
        require_type=False,
    )
    domains = validate_domains(
        tool.filters.allowed_domains if tool.filters else None,
        param=f"{param}.filters.allowed_domains",
    )
    return WebSearchTool(allowed_domains=domains, user_location=location)


def tool_choice_to_ir(
    choice: str | ToolChoiceParam | None, tools: list[FunctionTool], ctx: RequestContext
) -> tuple[ToolChoice | None, list[FunctionTool]]:
    """The IR choice, and the tools left after an `allowed_tools` restriction."""
    match choice:
        case None:
            return None, tools
        case "auto" | "none" | "required":
            return ToolChoice(mode=ToolChoiceMode(choice)), tools
        case str():
            raise InvalidRequestError(f"invalid tool_choice {choice!r}", param="tool_choice")
        case ToolChoiceParam(type="function" | "custom", name=str(name)):
            return ToolChoice(mode=ToolChoiceMode.NAMED, name=name), tools
        case ToolChoiceParam(type="allowed_tools"):
            allowed = {t.name for t in choice.tools or () if t.name}
            mode = ToolChoiceMode.REQUIRED if choice.mode == "required" else ToolChoiceMode.AUTO
            return ToolChoice(mode=mode), [t for t in tools if t.name in allowed]
        case ToolChoiceParam(type=kind) if kind in WEB_SEARCH_TYPES:
            ctx.warn_translated("forcing the web_search tool is not supported; tool_choice is auto")
            return ToolChoice(mode=ToolChoiceMode.AUTO), tools
        case _:
            raise InvalidRequestError(
                f"unsupported tool_choice type {choice.type!r}", param="tool_choice"
            )
