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

__all__ = ["Message", "Role", "may_be_emptied"]


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


def may_be_emptied(parts: tuple[Part, ...]) -> bool:
    """Whether an upstream's translation may leave nothing of a user message of `parts`
    (providers/empty_messages.py): all but one text part with more than whitespace in
    it. A decoder names such a message (`RequestContext.name_message`) where its index
    in the IR is not the client's, so that the error names the client's."""
    if len(parts) != 1:
        return True
    part = parts[0]
    return type(part) is not TextPart or not part.text or part.text.isspace()
