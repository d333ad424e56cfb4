"""A user message that its upstream's translation left empty is the client's 400.

A translator leaves out what its upstream type cannot take: a part it has no place for
(a thinking or tool_use block in an Anthropic client's user turn, to an OpenAI upstream),
warned, or text the upstream refuses (Anthropic's blank text, Gemini's empty text). A
user message of nothing else has no content left, and every upstream refuses an empty
message (Anthropic: 'messages.N: all messages must have non-empty content except for the
optional final assistant message'; OpenAI: 'empty array'); leaving the message out
instead would change the conversation (a last user turn gone makes the assistant's turn
before it a prefill to continue). So the translator refuses the request with a 400 that
names the message as the client sent it, unless a user or tool message beside it carries
the user's turn on: then the empty one is left out, warned, and the turn is the same. An
assistant message emptied so is left out where the roles stay valid (Anthropic and Gemini
merge the turns around it).
"""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.ir import Message, Part, Role, TextPart

__all__ = ["leave_out_empty"]

_USER_SIDE = (Role.USER, Role.TOOL)


def leave_out_empty(
    messages: tuple[Message, ...], index: int, upstream: str, ctx: RequestContext
) -> None:
    """For user message `index`, which the translation to `upstream` left empty: returns,
    warned, when a user or tool message beside it goes on with the user's turn (the
    caller leaves the empty one out: the conversation is the same); else raises the 400
    that names it as the client sent it."""
    path = ctx.message_path(index)
    if any(
        0 <= j < len(messages) and messages[j].role in _USER_SIDE for j in (index - 1, index + 1)
    ):
        ctx.warn(f"{path} was left out: nothing in it goes to this model's upstream ({upstream})")
        return
    message = messages[index]
    raise InvalidRequestError(
        f"{path}: nothing in this {message.role.value} message goes to this model's"
        f" upstream ({upstream}): {_why(message.parts)}; a message may not be empty, so"
        " give it content or leave it out",
        param=path,
    )


def _why(parts: tuple[Part, ...]) -> str:
    if not parts:
        return "it has none"
    if all(type(part) is TextPart for part in parts):
        return "its text is empty or whitespace only"
    kinds = sorted({str(type(part).__struct_config__.tag) for part in parts})
    return f"its {', '.join(kinds)} parts were left out: see the polyrelay-warnings header"
