"""Token logprobs as both OpenAI protocols write them (openai-python's
`ChatCompletionTokenLogprob` and the Responses `Logprob`s: the same members).

`bytes` is UNSET where a shape has none: a Responses text event's logprobs carry no
`bytes` (their SDK type has no such member); Chat may write `null` (no byte form)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["ChoiceLogprobs", "TokenLogprob", "TopLogprob"]


class TopLogprob(msgspec.Struct, kw_only=True, omit_defaults=True):
    token: str
    logprob: float
    bytes: list[int] | UnsetType | None = UNSET


class TokenLogprob(msgspec.Struct, kw_only=True, omit_defaults=True):
    token: str
    logprob: float
    bytes: list[int] | UnsetType | None = UNSET
    top_logprobs: list[TopLogprob] | None = None
    """Written always (`[]` when no alternatives were asked for); a Responses text
    event's may be absent, read as none."""


class ChoiceLogprobs(msgspec.Struct, kw_only=True):
    """A Chat choice's (or chunk choice's) `logprobs`: the tokens of `content`, or of
    `refusal` for a refusal; the other is `null`."""

    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None
