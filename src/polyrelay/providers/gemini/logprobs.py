"""Gemini's `logprobsResult` → IR token logprobs, on the text parts they belong to.

A candidate's `chosenCandidates` are its tokens in order (a stream chunk's: that chunk's),
and `topCandidates[i]` the likeliest tokens at step i. Gemini gives no per-part split, so
the tokens are dealt to the text parts in order, each taking tokens until their text is
as long as its own, the last taking the rest (one text part, the usual case, takes all).
Gemini gives no bytes: the frontends write a token's UTF-8 where they need some.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec

from polyrelay.ir import Part, TextPart, TokenAlternative, TokenLogprob
from polyrelay.schemas.gemini import LogprobsResult, TopCandidates

__all__ = ["split_by_text", "tokens_to_ir", "with_logprobs"]


def _top(step: TopCandidates | None) -> tuple[TokenAlternative, ...]:
    if step is None:
        return ()
    return tuple(
        TokenAlternative(token=c.token, logprob=c.log_probability) for c in step.candidates
    )


def tokens_to_ir(result: LogprobsResult) -> tuple[TokenLogprob, ...]:
    tops = result.top_candidates
    return tuple(
        TokenLogprob(
            token=chosen.token,
            logprob=chosen.log_probability,
            top=_top(tops[i] if i < len(tops) else None),
        )
        for i, chosen in enumerate(result.chosen_candidates)
    )


def split_by_text(
    tokens: tuple[TokenLogprob, ...], texts: Sequence[str]
) -> list[tuple[TokenLogprob, ...]]:
    """The tokens of each of `texts` (see the module doc)."""
    out: list[tuple[TokenLogprob, ...]] = []
    start = 0
    for i, text in enumerate(texts):
        if i == len(texts) - 1:
            out.append(tokens[start:])
            break
        end, length = start, 0
        while end < len(tokens) and length < len(text):
            length += len(tokens[end].token)
            end += 1
        out.append(tokens[start:end])
        start = end
    return out


def with_logprobs(parts: Sequence[Part], result: LogprobsResult) -> tuple[Part, ...]:
    """`parts` with the result's tokens on their text parts."""
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    dealt: Iterator[tuple[TokenLogprob, ...]] = iter(split_by_text(tokens_to_ir(result), texts))
    return tuple(
        msgspec.structs.replace(p, logprobs=next(dealt)) if isinstance(p, TextPart) else p
        for p in parts
    )
