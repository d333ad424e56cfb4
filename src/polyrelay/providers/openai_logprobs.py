"""The OpenAI protocols' token logprobs (schemas/openai_logprobs.py) → IR, for the Chat
and Responses upstreams alike. Only called where an upstream sent some: a response that
was not asked for them costs nothing here."""

from __future__ import annotations

from collections.abc import Sequence

from polyrelay.ir import TokenAlternative, TokenLogprob as IRTokenLogprob
from polyrelay.schemas.openai_logprobs import TokenLogprob, TopLogprob

__all__ = ["tokens_to_ir"]


def _bytes(given: object) -> tuple[int, ...] | None:
    return tuple(given) if isinstance(given, list) else None


def _alternative(top: TopLogprob) -> TokenAlternative:
    return TokenAlternative(token=top.token, logprob=top.logprob, bytes=_bytes(top.bytes))


def tokens_to_ir(entries: Sequence[TokenLogprob]) -> tuple[IRTokenLogprob, ...]:
    return tuple(
        IRTokenLogprob(
            token=entry.token,
            logprob=entry.logprob,
            bytes=_bytes(entry.bytes),
            top=tuple(_alternative(top) for top in entry.top_logprobs or ()),
        )
        for entry in entries
    )
