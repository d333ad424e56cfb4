"""Tool names renamed, reversibly, for an upstream whose rules they break.

Each protocol allows different function names (translation.md §3): OpenAI `[a-zA-Z0-9_-]`
up to 64 characters, Anthropic the same up to 128, Gemini a letter or `_` first and then
`[a-zA-Z0-9_.:-]` up to 64 (its 400 says so; translation.md's table has 128). A name one
client may send (Claude Code's MCP tools `mcp__<server>__<tool>` run past 64; a
Gemini-style `fs.read`; a name starting with a digit) is a 400 from another upstream. So a
request that leaves the fast path has each name the upstream would refuse replaced by a
legal one: its illegal characters made `_`, cut to fit, and ended with 8 hex digits of the
original's SHA-256, so that two names never meet. Names already legal are left as they
are, which is nearly always: the common request costs one regex match per name. The map
back (upstream name → client name) lives on the request context, and the upstream's tool
calls, complete or streamed, get the client's names again before any frontend sees them.
"""

from __future__ import annotations

import hashlib
import re

import msgspec

from polyrelay.ir.content import Part, ToolCallPart, ToolResultPart
from polyrelay.ir.events import PartStart, StreamEvent
from polyrelay.ir.messages import Message
from polyrelay.ir.request import ChatRequest
from polyrelay.ir.response import ChatResponse

__all__ = [
    "ANTHROPIC_NAMES",
    "GEMINI_NAMES",
    "OPENAI_NAMES",
    "ToolNameRule",
    "client_event",
    "client_response",
    "upstream_request",
]

_HASH_DIGITS = 8


class ToolNameRule(msgspec.Struct, frozen=True):
    legal: re.Pattern[str]
    """A whole legal name."""
    illegal_char: re.Pattern[str]
    """One character a name may not hold anywhere."""
    max_length: int
    first: re.Pattern[str] | None = None
    """The characters a name may start with, when not all legal ones may (Gemini's rule);
    a name starting otherwise gets a `_` in front."""

    def fit(self, name: str) -> str:
        if self.legal.fullmatch(name):
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_DIGITS]
        cleaned = self.illegal_char.sub("_", name)
        if self.first is not None and not self.first.match(cleaned):
            cleaned = "_" + cleaned
        return f"{cleaned[: self.max_length - _HASH_DIGITS - 1]}_{digest}"


OPENAI_NAMES = ToolNameRule(re.compile(r"[a-zA-Z0-9_-]{1,64}"), re.compile(r"[^a-zA-Z0-9_-]"), 64)
ANTHROPIC_NAMES = ToolNameRule(
    re.compile(r"[a-zA-Z0-9_-]{1,128}"), re.compile(r"[^a-zA-Z0-9_-]"), 128
)
GEMINI_NAMES = ToolNameRule(
    re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}"),
    re.compile(r"[^a-zA-Z0-9_.:-]"),
    64,
    re.compile(r"[a-zA-Z_]"),
)


def upstream_request(
    request: ChatRequest, rule: ToolNameRule
) -> tuple[ChatRequest, dict[str, str]]:
    """`request` with every tool name `rule` refuses renamed (its declarations, the forced
    choice, the calls and results in the history), and the map back from the new names."""
    names = _names(request)
    renamed = {name: rule.fit(name) for name in names}
    renamed = {name: new for name, new in renamed.items() if new != name}
    if not renamed:
        return request, {}
    tools = tuple(
        msgspec.structs.replace(tool, name=renamed[tool.name]) if tool.name in renamed else tool
        for tool in request.tools
    )
    choice = request.tool_choice
    if choice is not None and choice.name in renamed:
        choice = msgspec.structs.replace(choice, name=renamed[choice.name])
    messages = tuple(_renamed_message(message, renamed) for message in request.messages)
    request = msgspec.structs.replace(request, tools=tools, tool_choice=choice, messages=messages)
    return request, {new: name for name, new in renamed.items()}


def client_response(response: ChatResponse, back: dict[str, str] | None) -> ChatResponse:
    """`response` with its tool calls named as the client named the tools (`back`: the map
    `upstream_request` made, None when it renamed nothing)."""
    if not back:
        return response
    parts = tuple(_renamed_part(part, back) for part in response.parts)
    return msgspec.structs.replace(response, parts=parts)


def client_event(event: StreamEvent, back: dict[str, str]) -> StreamEvent:
    if type(event) is PartStart and isinstance(event.part, ToolCallPart):
        if event.part.name in back:
            return PartStart(index=event.index, part=_renamed_part(event.part, back))
    return event


def _names(request: ChatRequest) -> set[str]:
    names = {tool.name for tool in request.tools}
    if request.tool_choice is not None and request.tool_choice.name is not None:
        names.add(request.tool_choice.name)
    for message in request.messages:  # every part of the history, on every translated request
        for part in message.parts:  # exact types (final Structs): a union isinstance costs 3x
            if (type(part) is ToolCallPart or type(part) is ToolResultPart) and part.name:
                names.add(part.name)
    return names


def _renamed_message(message: Message, renamed: dict[str, str]) -> Message:
    if not any(isinstance(p, ToolCallPart | ToolResultPart) for p in message.parts):
        return message
    parts = tuple(_renamed_part(part, renamed) for part in message.parts)
    return msgspec.structs.replace(message, parts=parts)


def _renamed_part(part: Part, renamed: dict[str, str]) -> Part:
    if isinstance(part, ToolCallPart | ToolResultPart) and part.name is not None:
        new = renamed.get(part.name)
        if new is not None:
            return msgspec.structs.replace(part, name=new)
    return part
