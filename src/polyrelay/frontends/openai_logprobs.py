"""IR token logprobs → the OpenAI protocols' `logprobs` (schemas/openai_logprobs.py).

Both protocols name the same members; a Responses `output_text` must carry `bytes`, so a
token whose upstream gave none (Gemini's) gets its UTF-8, which is what the bytes of a
whole-text token are. A Responses text event's tokens carry no `bytes` (`with_bytes`)."""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import UNSET

from polyrelay.ir import TextPart, TokenAlternative, TokenLogprob as IRTokenLogprob
from polyrelay.schemas.openai_logprobs import ChoiceLogprobs, TokenLogprob, TopLogprob

__all__ = ["choice_logprobs", "tokens_from_ir"]


def _bytes(token: str, given: tuple[int, ...] | None) -> list[int]:
    return list(given) if given is not None else list(token.encode())


def _top(alternative: TokenAlternative, with_bytes: bool) -> TopLogprob:
    token = alternative.token
    return TopLogprob(
        token=token,
        logprob=alternative.logprob,
        bytes=_bytes(token, alternative.bytes) if with_bytes else UNSET,
    )


def tokens_from_ir(
    tokens: Iterable[IRTokenLogprob], *, with_bytes: bool = True
) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token=t.token,
            logprob=t.logprob,
            bytes=_bytes(t.token, t.bytes) if with_bytes else UNSET,
            top_logprobs=[_top(alternative, with_bytes) for alternative in t.top],
        )
        for t in tokens
    ]


def choice_logprobs(parts: Iterable[TextPart]) -> ChoiceLogprobs | None:
    """A Chat choice's `logprobs` for its text parts: None when none carries tokens (not
    asked for, or an upstream without them)."""
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None
    for part in parts:
        if part.logprobs is None:
            continue
        tokens = tokens_from_ir(part.logprobs)
        if part.refusal:
            refusal = (refusal or []) + tokens
        else:
            content = (content or []) + tokens
    if content is None and refusal is None:
        return None
    return ChoiceLogprobs(content=content, refusal=refusal)
