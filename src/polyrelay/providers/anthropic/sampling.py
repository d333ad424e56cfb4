"""Sampling parameters and stop sequences in the shapes Anthropic takes (translation.md §4).

An OpenAI client may send what Anthropic answers with a 400, each rule from the API:
- temperature is 0-2 for OpenAI, 0-1 here: clamped;
- with thinking on, temperature may only be 1, top_k not at all and top_p only 0.95-1
  (extended thinking docs): those are dropped;
- Claude Opus 4.1 and the 4.5 models on take temperature or top_p, not both: top_p goes,
  temperature being the one both protocols document as the usual knob;
- a stop sequence of whitespace only is refused: it is dropped.
Every change is warned.
"""

from __future__ import annotations

import re

import msgspec

from polyrelay.context import RequestContext
from polyrelay.ir import ChatRequest

__all__ = ["Sampling", "sampling_from_ir", "stop_sequences_from_ir"]

# Opus 4.1 and every 4.x from 4.5 on; not claude-opus-4-20250514 (Opus 4).
_ONE_SAMPLER_MODEL = re.compile(r"claude-(opus|sonnet|haiku)-4-[1-9](?!\d)")
_MIN_THINKING_TOP_P = 0.95


class Sampling(msgspec.Struct, frozen=True, kw_only=True):
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None


def sampling_from_ir(
    request: ChatRequest, model: str, *, thinks: bool, ctx: RequestContext
) -> Sampling:
    temperature = _temperature(request.temperature, ctx)
    top_p, top_k = request.top_p, request.top_k
    if thinks:
        if temperature is not None and temperature != 1:
            ctx.warn(f"temperature {temperature} dropped: Anthropic takes only 1 with thinking")
            temperature = None
        if top_k is not None:
            ctx.warn("top_k dropped: Anthropic does not take it with thinking")
            top_k = None
        if top_p is not None and top_p < _MIN_THINKING_TOP_P:
            ctx.warn(f"top_p {top_p} dropped: Anthropic takes only 0.95 to 1 with thinking")
            top_p = None
    if temperature is not None and top_p is not None and _ONE_SAMPLER_MODEL.search(model):
        ctx.warn(f"top_p dropped: {model} takes temperature or top_p, not both")
        top_p = None
    return Sampling(temperature=temperature, top_p=top_p, top_k=top_k)


def _temperature(value: float | None, ctx: RequestContext) -> float | None:
    if value is None or 0.0 <= value <= 1.0:
        return value
    ctx.warn(f"temperature {value} clamped to Anthropic's range [0, 1]")
    return min(max(value, 0.0), 1.0)


def stop_sequences_from_ir(stop: tuple[str, ...], ctx: RequestContext) -> list[str] | None:
    kept = [sequence for sequence in stop if sequence.strip()]
    if len(kept) < len(stop):
        ctx.warn("stop sequences of whitespace only were dropped: Anthropic refuses them")
    return kept or None
