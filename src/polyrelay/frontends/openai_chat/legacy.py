"""OpenAI's deprecated `functions` API, as far as it differs from `tools`.

A request with `functions` (and no `tools`) is answered as OpenAI answers it: the one call
in `message.function_call` (streamed: `delta.function_call` fragments) with the finish
reason `function_call`. The decoder marks such a request with `LEGACY_FUNCTIONS` in
`ctx.frontend_state`, so the encoder and the stream renderer check one flag per response
or stream.

Legacy calls carry no id and their results (`role: "function"` messages) name the
function instead, so the decoder pairs them by position: the call of assistant message
`i` gets the id `call_legacy_<i>` (within `[a-zA-Z0-9_-]`, which Anthropic's tool_use ids
require) and the next `function` message of that name answers it. The client sends the
whole history each turn, so the same call gets the same id every time.
"""

from __future__ import annotations

from typing import Final, Literal

from msgspec import UNSET

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.ir import FunctionTool
from polyrelay.schemas.openai_chat import (
    ChatCompletionMessage,
    ChatCompletionNamedToolChoiceParam,
    FunctionName,
    LegacyFunction,
    ToolChoiceParam,
)

__all__ = [
    "LEGACY_FUNCTIONS",
    "functions_to_ir",
    "legacy_call_id",
    "legacy_choice",
    "legacy_message",
    "merged_tools",
    "warn_extra_calls",
]

LEGACY_FUNCTIONS: Final = "openai_chat.legacy_functions"
"""`ctx.frontend_state` of a request that uses `functions` and not `tools`."""

FINISH_REASON: Final = "function_call"


def legacy_call_id(message_index: int) -> str:
    return f"call_legacy_{message_index}"


def warn_extra_calls(count: int | None, ctx: RequestContext) -> None:
    made = f"{count} function calls" if count else "several function calls"
    ctx.warn(
        f"the model made {made}; a request with 'functions' gets one 'function_call',"
        " so only the first was returned (send 'tools' for several)"
    )


def legacy_message(message: ChatCompletionMessage, ctx: RequestContext) -> bool:
    """Moves the message's first tool call into `function_call`, in place; True when it
    had one (its finish reason is then `function_call`)."""
    calls = message.tool_calls
    if not calls:
        return False
    if len(calls) > 1:
        warn_extra_calls(len(calls), ctx)
    message.function_call = calls[0].function
    message.tool_calls = UNSET
    return True


def functions_to_ir(functions: list[LegacyFunction]) -> tuple[FunctionTool, ...]:
    return tuple(
        FunctionTool(name=f.name, description=f.description, parameters=f.parameters)
        for f in functions
    )


def merged_tools(
    tools: tuple[FunctionTool, ...], functions: tuple[FunctionTool, ...], ctx: RequestContext
) -> tuple[FunctionTool, ...]:
    """Both lists sent: OpenAI documents no rule for it, so none is dropped. The answer
    takes the `tools` form, which the client knows. A function a tool already names is
    left out, as the upstreams refuse two tools of one name."""
    names = {t.name for t in tools}
    extra = tuple(f for f in functions if f.name not in names)
    ctx.warn_translated(
        "both 'functions' and 'tools' were sent: the functions were added to the tools"
        + ("" if len(extra) == len(functions) else " (those a tool already names left out)")
        + " and calls come back as 'tool_calls'"
    )
    return tools + extra


def legacy_choice(
    call: Literal["none", "auto"] | FunctionName, tools: tuple[FunctionTool, ...]
) -> ToolChoiceParam:
    """The deprecated `function_call` → the `tool_choice` it stands for."""
    if not isinstance(call, FunctionName):
        return call
    if tools and all(t.name != call.name for t in tools):
        raise InvalidRequestError(
            f"Invalid 'function_call.name': no function named '{call.name}' was given in"
            " 'functions'.",
            param="function_call.name",
        )
    return ChatCompletionNamedToolChoiceParam(function=call)
