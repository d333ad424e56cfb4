"""Messages: a role and its parts.

Rules: leading system/developer instructions live in `ChatRequest.system`, not here;
a `SYSTEM` message in `messages` is one that appeared mid-conversation. Tool results
live in `TOOL` messages holding only `ToolResultPart`s, one message per client turn;
user text that followed the results in the same client turn becomes the next `USER`
message.
"""

from __future__ import annotations

import enum

import msgspec

from polyrelay.ir.content import Part, TextPart

__all__ = ["Message", "Role"]


class Role(enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class Message(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    parts: tuple[Part, ...]
    name: str | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))
