"""The gateway's reasoning blob: provider reasoning state carried in `encrypted_content`.

Responses clients replay reasoning statelessly through `reasoning.encrypted_content`
(translation.md §6). For reasoning that did not come from OpenAI Responses the gateway
puts the gateway's reasoning token there (ir/reasoning_token.py). A value without the
prefix is OpenAI's own encrypted content.
"""

from __future__ import annotations

from polyrelay.ir import ReasoningPart
from polyrelay.ir.reasoning_token import TOKEN_PREFIX, reasoning_from_token, reasoning_token

__all__ = ["BLOB_PREFIX", "OPENAI_ORIGIN", "reasoning_state_from_ir", "reasoning_state_to_ir"]

BLOB_PREFIX = TOKEN_PREFIX
OPENAI_ORIGIN = "openai-responses"


def reasoning_state_from_ir(part: ReasoningPart) -> str | None:
    """The `encrypted_content` to send a client for `part`."""
    if part.origin == OPENAI_ORIGIN:
        return part.signature
    return reasoning_token(part.origin, part.signature, part.redacted)


def reasoning_state_to_ir(encrypted: str | None, text: str) -> ReasoningPart:
    """The ReasoningPart a client's replayed reasoning item stands for."""
    if encrypted is None or not encrypted.startswith(BLOB_PREFIX):
        return ReasoningPart(text=text, signature=encrypted, origin=OPENAI_ORIGIN)
    # A damaged blob carries no usable state; keep the readable summary only.
    return reasoning_from_token(encrypted, text) or ReasoningPart(text=text)
