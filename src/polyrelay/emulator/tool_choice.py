"""Each protocol's tool choice, read into the neutral `ToolChoice` the script applies.

As the real APIs: a choice that names a tool must name a declared one, and a forced choice
needs tools; anything else is the provider's 400. Forms the emulator has nothing to act
on (a hosted tool forced on Responses, `allowed_tools` in auto mode) read as `auto`.
"""

from __future__ import annotations

from collections.abc import Iterable

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError, ToolChoice
from polyrelay.emulator.wire import as_list, as_object, as_str, first_of

__all__ = [
    "anthropic_tool_choice",
    "chat_tool_choice",
    "gemini_tool_choice",
    "responses_tool_choice",
]

_AUTO = ToolChoice()
_NONE = ToolChoice("none")
_MODES = {"auto": _AUTO, "none": _NONE, "required": ToolChoice("required")}


def _forced(names: Iterable[str], declared: dict[str, JSONObject], param: str) -> ToolChoice:
    """A required choice of `names` (any tool when empty), each of them declared."""
    names = tuple(names)
    if not declared:
        raise RequestError(
            400, f"Invalid value for '{param}': a forced tool choice needs 'tools'.", param
        )
    unknown = [name for name in names if name not in declared]
    if unknown:
        offered = ", ".join(declared)
        raise RequestError(
            400,
            f"Invalid value for '{param}': no tool named {unknown[0]!r} in the request's "
            f"tools ({offered}).",
            param,
        )
    return ToolChoice("required", names)


def _mode(value: str, declared: dict[str, JSONObject], param: str) -> ToolChoice:
    """OpenAI's string choices, Chat's and Responses' alike: "none", "auto", "required"."""
    if value not in _MODES:
        raise _invalid(param, value)
    return _forced((), declared, param) if value == "required" else _MODES[value]


def _invalid(param: str, value: object) -> RequestError:
    return RequestError(400, f"Invalid value for '{param}': {value!r}.", param)


def chat_tool_choice(body: JSONObject, declared: dict[str, JSONObject]) -> ToolChoice:
    """`tool_choice` (or the deprecated `function_call`): "none", "auto", "required",
    `{"type":"function","function":{"name"}}`, `{"type":"custom","custom":{"name"}}`,
    `{"type":"allowed_tools","allowed_tools":{"mode","tools"}}`."""
    param = "tool_choice" if "tool_choice" in body else "function_call"
    value = body.get(param)
    if value is None:
        return _AUTO
    if isinstance(value, str):
        return _mode(value, declared, param)
    choice = as_object(value)
    kind = choice.get("type")
    if param == "function_call":
        return _forced([as_str(choice.get("name"))], declared, param)
    if kind in ("function", "custom"):
        return _forced([as_str(as_object(choice.get(kind)).get("name"))], declared, param)
    if kind == "allowed_tools":
        allowed = as_object(choice.get("allowed_tools"))
        tools = map(as_object, as_list(allowed.get("tools")))
        names = [as_str(as_object(t.get(as_str(t.get("type")))).get("name")) for t in tools]
        return _forced(names, declared, param) if allowed.get("mode") == "required" else _AUTO
    raise _invalid(param, value)


def responses_tool_choice(body: JSONObject, declared: dict[str, JSONObject]) -> ToolChoice:
    """`tool_choice`: "none", "auto", "required", `{"type":"function","name"}`,
    `{"type":"custom","name"}`, `{"type":"allowed_tools","mode","tools"}` (flat, unlike
    Chat's), or a hosted tool's type."""
    value = body.get("tool_choice")
    if value is None:
        return _AUTO
    if isinstance(value, str):
        return _mode(value, declared, "tool_choice")
    choice = as_object(value)
    kind = choice.get("type")
    if kind in ("function", "custom"):
        return _forced([as_str(choice.get("name"))], declared, "tool_choice")
    if kind == "allowed_tools" and choice.get("mode") == "required":
        names = [as_str(as_object(tool).get("name")) for tool in as_list(choice.get("tools"))]
        return _forced(names, declared, "tool_choice")
    if isinstance(kind, str):
        return _AUTO  # a hosted tool or allowed_tools in auto mode: the script decides
    raise _invalid("tool_choice", value)


def anthropic_tool_choice(
    body: JSONObject, declared: dict[str, JSONObject], *, thinks: bool
) -> ToolChoice:
    """`tool_choice`: `{"type":"auto"|"any"|"none"}` or `{"type":"tool","name"}`; with
    thinking on only auto and none, as the API says."""
    value = body.get("tool_choice")
    if value is None:
        return _AUTO
    choice = as_object(value)
    kind = choice.get("type")
    if kind in ("auto", "none"):
        return _MODES[kind]
    if kind not in ("any", "tool"):
        raise RequestError(
            400,
            "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
            "tool_choice",
        )
    if thinks:
        raise RequestError(
            400, "Thinking may not be enabled when tool_choice forces tool use.", "tool_choice"
        )
    names = [as_str(choice.get("name"))] if kind == "tool" else []
    return _forced(names, declared, "tool_choice")


def gemini_tool_choice(body: JSONObject, declared: dict[str, JSONObject]) -> ToolChoice:
    """`toolConfig.functionCallingConfig`: mode AUTO, ANY (with `allowedFunctionNames`,
    one name forcing that function) or NONE; snake_case accepted as the API does."""
    tool_config = as_object(first_of(body, "toolConfig", "tool_config"))
    config = as_object(first_of(tool_config, "functionCallingConfig", "function_calling_config"))
    mode = config.get("mode", "AUTO")
    if mode in ("AUTO", "MODE_UNSPECIFIED", "VALIDATED"):
        return _AUTO
    if mode == "NONE":
        return _NONE
    if mode != "ANY":
        raise RequestError(
            400,
            f"Invalid value at 'tool_config.function_calling_config.mode' ({mode!r})",
            "toolConfig",
        )
    names = as_list(first_of(config, "allowedFunctionNames", "allowed_function_names"))
    return _forced(map(as_str, names), declared, "toolConfig")
