"""The gateway's reasoning token: provider reasoning state a client carries for us.

Clients can replay reasoning only in their own protocol's slot (an Anthropic thinking
`signature`, a Responses `encrypted_content`). For reasoning a different provider made, the
gateway puts an opaque token there — `gw1.` + base64url of JSON `{"o": origin, "s":
signature, "r": redacted}` — and turns it back into the ReasoningPart when it returns, so
the state goes back only to the provider that issued it (translation.md §6). One format for
every frontend, so a token made for one protocol reads the same in another.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from polyrelay.ir.content import ReasoningPart

__all__ = ["TOKEN_PREFIX", "is_reasoning_token", "reasoning_from_token", "reasoning_token"]

TOKEN_PREFIX = "gw1."  # noqa: S105 - a token format, not a secret
_encoder = msgspec.json.Encoder()


class _State(msgspec.Struct, kw_only=True, omit_defaults=True):
    o: str | None = None
    s: str | None = None
    r: bool = False


_decoder = msgspec.json.Decoder(_State)


def reasoning_token(origin: str | None, signature: str | None, redacted: bool = False) -> str:
    raw = _encoder.encode(_State(o=origin, s=signature, r=redacted))
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def is_reasoning_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def reasoning_from_token(token: str, text: str) -> ReasoningPart | None:
    """The ReasoningPart a token stands for; None when it is damaged (not ours)."""
    payload = token[len(TOKEN_PREFIX) :]
    try:
        state = _decoder.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, msgspec.ValidationError, msgspec.DecodeError):
        return None
    return ReasoningPart(text=text, signature=state.s, origin=state.o, redacted=state.r)
