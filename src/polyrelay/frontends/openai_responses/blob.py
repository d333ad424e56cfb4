"""The gateway's reasoning blob: provider reasoning state carried in `encrypted_content`.

Responses clients replay reasoning statelessly through `reasoning.encrypted_content`
(translation.md §6). For reasoning that did not come from OpenAI Responses the gateway
puts its own opaque value there: `gw1.` + base64url(JSON `{"o": origin, "s": signature,
"r": redacted}`). A value without the prefix is OpenAI's own encrypted content.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from polyrelay.codec import DecodeError, decode_as, encode
from polyrelay.ir import ReasoningPart

__all__ = ["BLOB_PREFIX", "OPENAI_ORIGIN", "reasoning_state_from_ir", "reasoning_state_to_ir"]

BLOB_PREFIX = "gw1."
OPENAI_ORIGIN = "openai-responses"


class _Blob(msgspec.Struct, kw_only=True, omit_defaults=True):
    o: str | None = None
    s: str | None = None
    r: bool = False


def reasoning_state_from_ir(part: ReasoningPart) -> str | None:
    """The `encrypted_content` to send a client for `part`."""
    if part.origin == OPENAI_ORIGIN:
        return part.signature
    raw = encode(_Blob(o=part.origin, s=part.signature, r=part.redacted))
    return BLOB_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def reasoning_state_to_ir(encrypted: str | None, text: str) -> ReasoningPart:
    """The ReasoningPart a client's replayed reasoning item stands for."""
    if encrypted is None or not encrypted.startswith(BLOB_PREFIX):
        return ReasoningPart(text=text, signature=encrypted, origin=OPENAI_ORIGIN)
    payload = encrypted[len(BLOB_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        blob = decode_as(raw, _Blob)
    except (binascii.Error, ValueError, msgspec.ValidationError, DecodeError):
        # A damaged blob carries no usable state; keep the readable summary only.
        return ReasoningPart(text=text)
    return ReasoningPart(text=text, signature=blob.s, origin=blob.o, redacted=blob.r)
