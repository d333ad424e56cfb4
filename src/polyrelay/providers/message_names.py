"""A message's `name`, which only OpenAI Chat takes.

A Chat client may name a message's author (`{"role": "user", "name": "alice", ...}`: the
participants of a multi-agent conversation, LangChain's and AutoGen's named messages). The
IR keeps it (`Message.name`) for an OpenAI Chat upstream; Anthropic's messages, Gemini's
contents and Responses input items have no such field, so their translators warn that the
names were left out rather than drop them without a word.
"""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.ir import Message

__all__ = ["warn_names_left_out"]


def warn_names_left_out(messages: tuple[Message, ...], upstream: str, ctx: RequestContext) -> None:
    if any(message.name for message in messages):
        ctx.warn(f"messages' name is not supported by {upstream}; ignored")
